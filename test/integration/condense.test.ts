// Condensing a follow-up is bounded: the call asks for few tokens, the fake (like a real provider) stops there, and a
// call that takes longer than CONDENSE_TIMEOUT_MS is abandoned for the question as asked, with a warning, while the
// answer still completes.

import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { CONDENSE_TIMEOUT_MS } from '../../src/core/pipeline/phases/enhance.ts';
import type { RunEvent } from '../../src/core/events.ts';
import { lastEvent, readSse, type SseReadResult } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { REFUNDS, SHIPPING } from '../helpers/refund-corpus.ts';

type ChatBody = { messages: { role: string; content: string }[]; max_tokens?: number; stream?: boolean };

const events = (result: SseReadResult): RunEvent[] => result.frames.map((frame) => frame.data);

function phaseMs(result: SseReadResult, name: string): number | undefined {
  const end = events(result).find(
    (event) => event.type === 'phase' && event.name === name && event.state === 'end',
  );
  return end?.type === 'phase' ? end.durationMs : undefined;
}

async function upload(server: TestServer): Promise<void> {
  const form = new FormData();
  form.append('file', new Blob([REFUNDS]), 'refunds.md');
  form.append('file', new Blob([SHIPPING]), 'shipping.md');
  const response = await fetch(`${server.url}/api/documents`, { method: 'POST', body: form });
  expect(response.status).toBe(200);
}

function ask(server: TestServer, message: string, conversationId?: string): Promise<SseReadResult> {
  return readSse(`${server.url}/api/chat/stream`, {
    body: conversationId === undefined ? { message } : { message, conversationId },
  });
}

/** Asks a first question with a short scripted answer; returns its conversation. */
async function firstTurn(server: TestServer): Promise<string> {
  server.upstream.enqueue({ tokens: ['Refunds take ', '14 days ', '[1].'] });
  const first = await ask(server, 'How soon are refunds issued?');
  expect(lastEvent(first.frames)).toMatchObject({ type: 'done' });
  await server.app.chat.settled();
  const start = events(first)[0] as Extract<RunEvent, { type: 'start' }>;
  return start.conversationId;
}

describe('condensing a follow-up', () => {
  let server: TestServer;
  afterEach(async () => {
    await server.close();
  });

  it('asks for at most 200 tokens, so a fake that would write 5,000 slow tokens answers at once', async () => {
    server = await startTestServer({}, { tokens: ['Gift cards ', 'are final ', '[1].'] });
    await upload(server);
    const conversationId = await firstTurn(server);
    server.upstream.reset();
    // Without the limit this condense call would take 5,000 x 2 ms = 10 s (beyond the timeout, too).
    server.upstream.enqueue({ tokenCount: 5000, interTokenMs: 2 });

    const started = performance.now();
    const followUp = await ask(server, 'And gift cards?', conversationId);
    const condense = server.upstream.requests[0]!;
    expect((condense.body as ChatBody).max_tokens).toBe(200);
    expect(condense).toMatchObject({ maxTokens: 200, truncated: true, tokensSent: 200 });
    // 200 tokens at 2 ms: well under a second, not 10 s; an answer cut at the limit is not used as the question.
    expect(phaseMs(followUp, 'enhance')).toBeLessThan(2_000);
    const answer = server.upstream.requests[1]!.body as ChatBody;
    expect(answer.messages.at(-1)).toEqual({ role: 'user', content: 'And gift cards?' });
    expect(lastEvent(followUp.frames)).toMatchObject({ type: 'done', finishReason: 'stop' });
    expect(performance.now() - started).toBeLessThan(CONDENSE_TIMEOUT_MS);
  });

  it('uses the markdown fake’s short standalone question, and finds the sources the follow-up is about', async () => {
    server = await startTestServer({}, { answer: 'markdown' });
    await upload(server);
    const conversationId = await firstTurn(server);
    server.upstream.reset();

    const followUp = await ask(server, 'And what about gift cards?', conversationId);
    const condense = server.upstream.requests[0]!;
    expect((condense.body as ChatBody).max_tokens).toBe(200);
    expect(condense.textSent).toBe('And what about gift cards (about: How soon are refunds issued)?');
    expect(phaseMs(followUp, 'enhance')).toBeLessThan(1_000);
    const sources = events(followUp).find((event) => event.type === 'sources');
    expect(sources?.type === 'sources' && sources.sources[0]?.uri).toBe('refunds.md');
    const done = lastEvent(followUp.frames);
    expect(done).toMatchObject({ type: 'done', finishReason: 'stop' });
    expect(done?.type === 'done' && done.text).toMatch(/^## Short answer\n\nFrom the documents: .+ \[1\]\./u);
  });

  it(
    'gives up on a condense call that stalls past the timeout: searches the question as asked, logs a warning, answers',
    async () => {
      const logs: string[] = [];
      server = await startTestServer({}, { tokens: ['Gift cards ', 'are final ', '[1].'] }, { logs });
      await upload(server);
      const conversationId = await firstTurn(server);
      server.upstream.reset();
      // The condense call sends nothing after its headers; the provider stall limit (LLM_STALL_MS, 30 s) is far away.
      server.upstream.enqueue({ stallAfter: 0 });

      const started = performance.now();
      const followUp = await ask(server, 'Which items can never be refunded?', conversationId);
      const elapsed = performance.now() - started;

      const condense = await server.upstream.waitForClose(1);
      expect((condense.body as ChatBody).max_tokens).toBe(200);
      expect(condense.closedBy).toBe('client');
      expect(phaseMs(followUp, 'enhance')).toBeGreaterThanOrEqual(CONDENSE_TIMEOUT_MS - 50);
      expect(elapsed).toBeLessThan(CONDENSE_TIMEOUT_MS + 3_000);
      const warning = logs
        .map((line) => JSON.parse(line) as { level: number; msg: string; timeoutMs?: number })
        .find((line) => line.msg.startsWith('query enhancement timed out'));
      expect(warning).toMatchObject({ level: 40, timeoutMs: CONDENSE_TIMEOUT_MS });

      // Searched as asked: the refunds page's exceptions, and the answer completes.
      const sources = events(followUp).find((event) => event.type === 'sources');
      expect(sources?.type === 'sources' && sources.sources[0]?.title).toBe('Refund policy > Exceptions');
      expect(lastEvent(followUp.frames)).toMatchObject({
        type: 'done',
        finishReason: 'stop',
        text: 'Gift cards are final [1].',
      });
    },
    CONDENSE_TIMEOUT_MS + 15_000,
  );
});
