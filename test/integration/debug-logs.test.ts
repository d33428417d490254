// LOG_LEVEL=debug says what an operator debugging a slow or failed answer needs (issue 19): each provider request
// and its first byte with timings, retries, failovers, circuit breaker changes, resumes, and answer cache decisions
// with their reasons, each tied to the run. Never a key or the prompt. A real server, two fake upstreams.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { readSse, tokenText, type SseReadResult } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const KEY = 'sk-proj-DEBUGa1b2c3d4e5f6g7h8i9j0KLMNOPQR';
const PASSAGE = 'Refunds are issued within 14 days of the purchase; gift cards cannot be refunded.';
const QUESTION = 'How long do refunds take?';

interface Line {
  level: number;
  msg: string;
  runId?: string;
  [field: string]: unknown;
}

const DEBUG = 20;

function runIdOf(result: SseReadResult): string {
  const start = result.frames[0]?.data;
  if (start?.type !== 'start') throw new Error('expected a start event');
  return start.runId;
}

function conversationOf(result: SseReadResult): string {
  const start = result.frames[0]?.data;
  if (start?.type !== 'start') throw new Error('expected a start event');
  return start.conversationId;
}

describe('LOG_LEVEL=debug', () => {
  let backup: FakeUpstream;
  let server: TestServer;
  const logs: string[] = [];
  const lines = (): Line[] => logs.map((line) => JSON.parse(line) as Line);
  const debugLines = (runId: string): Line[] =>
    lines().filter((line) => line.level === DEBUG && line.runId === runId);

  beforeAll(async () => {
    backup = await startFakeUpstream({ scenario: { tokens: ['Within ', '14 ', 'days.'] } });
    server = await startTestServer(
      {
        LLM_API_KEY: KEY,
        LLM_FALLBACK: `openai-compatible:backup-model@${backup.url}`,
        LLM_RETRIES: '1',
        LLM_RETRY_BASE_MS: '1',
        LLM_RETRY_MAX_MS: '1',
        LLM_BREAKER_FAILURES: '2',
        QUERY_ENHANCE: 'true',
      },
      { tokens: ['Refunds ', 'take ', '14 ', 'days.'] },
      { logs, logLevel: 'debug' },
    );
    const form = new FormData();
    form.append('file', new Blob([`# Refund policy\n\n${PASSAGE}`]), 'refunds.md');
    expect((await fetch(`${server.url}/api/documents`, { method: 'POST', body: form })).status).toBe(200);
  });
  afterAll(async () => {
    await server.close();
    await backup.close();
  });

  it('logs provider calls, a retry, the failover, the breaker opening, and a cache fill then a hit', async () => {
    // The primary fails twice (the call and its one retry): the circuit opens and the backup answers.
    server.upstream.enqueue({ errorStatus: 503 }, { errorStatus: 503 });
    const first = await readSse(`${server.url}/api/chat/stream`, { body: { message: QUESTION } });
    expect(tokenText(first.frames)).toBe('Within 14 days.');
    const run = runIdOf(first);
    const messages = debugLines(run).map((line) => line.msg);
    expect(messages).toEqual(
      expect.arrayContaining([
        'answer cache miss',
        'provider request sent',
        'provider call failed',
        'circuit opened: provider fails',
        'provider first byte',
        'provider call finished',
        'answer cached',
      ]),
    );
    const sent = debugLines(run).filter((line) => line.msg === 'provider request sent');
    expect(sent.map((line) => [line.provider, line.model, line.attempt])).toEqual([
      ['openai-compatible', 'fake-model', 1],
      ['openai-compatible', 'fake-model', 2],
      ['openai-compatible', 'backup-model', 1],
    ]);
    const firstByte = debugLines(run).find((line) => line.msg === 'provider first byte');
    expect(firstByte).toMatchObject({ model: 'backup-model', ms: expect.any(Number) as number });
    // The retry and the failover are warnings, tied to the run too.
    const warnings = lines().filter((line) => line.runId === run && line.level === 40);
    expect(warnings.map((line) => line.msg)).toEqual(['provider call failed, retrying', 'failing over']);

    // Asked again: the cache answers, and says so.
    const again = await readSse(`${server.url}/api/chat/stream`, { body: { message: QUESTION } });
    expect(debugLines(runIdOf(again))).toEqual([
      expect.objectContaining({ msg: 'answer cache hit', entry: expect.any(String) as string }),
    ]);

    // Nothing secret or private: no key, no passage text (the prompt).
    const text = logs.join('\n');
    expect(text).not.toContain(KEY);
    expect(text).not.toContain('gift cards');
  });

  it('says why a follow-up answer is not cached, and logs a resume', async () => {
    const first = await readSse(`${server.url}/api/chat/stream`, {
      body: { message: 'Can gift cards be refunded?' },
    });
    const followUp = await readSse(`${server.url}/api/chat/stream`, {
      body: { message: 'And opened ones?', conversationId: conversationOf(first) },
    });
    const run = runIdOf(followUp);
    expect(debugLines(run).map((line) => line.msg)).toContain('not cached: generated with history');

    const resumed = await readSse(`${server.url}/api/runs/${run}/events`, {
      headers: { 'last-event-id': `${run}:1` },
    });
    expect(resumed.status).toBe(200);
    expect(lines().find((line) => line.msg === 'run resumed' && line.runId === run)).toMatchObject({
      afterSeq: 1,
      lastSeq: expect.any(Number) as number,
    });
  });
});
