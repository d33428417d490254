// Upstream faults always reach the client as a terminal, coded `error` event: never a stream that just ends.

import { createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/core/events.ts';
import type { FakeScenario } from '../fakes/openai-upstream.ts';
import { lastEvent, readSse, tokenText } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

let server: TestServer;
beforeAll(async () => {
  // No retries here: these tests are about how each fault is reported (fallback.test.ts covers recovery).
  server = await startTestServer({ LLM_STALL_MS: '300', LLM_RETRIES: '0' });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.upstream.reset();
});

async function streamWith(scenario: FakeScenario) {
  server.upstream.setScenario(scenario);
  const result = await readSse(`${server.url}/api/chat/stream`, { body: { message: 'fault please' } });
  expect(result.status).toBe(200);
  expect(result.ended).toBe(true);
  return result;
}

const faults: { name: string; scenario: FakeScenario; code: string; retryable: boolean; partial: boolean }[] =
  [
    {
      name: '429 before the first token',
      scenario: { errorStatus: 429, retryAfterSeconds: 2 },
      code: 'UPSTREAM_RATE_LIMITED',
      retryable: true,
      partial: false,
    },
    {
      name: '500 before the first token',
      scenario: { errorStatus: 500 },
      code: 'UPSTREAM_UNAVAILABLE',
      retryable: true,
      partial: false,
    },
    {
      name: '401 from a bad key',
      scenario: { errorStatus: 401 },
      code: 'UPSTREAM_AUTH_FAILED',
      retryable: false,
      partial: false,
    },
    {
      name: '400 for a rejected request',
      scenario: { errorStatus: 400 },
      code: 'UPSTREAM_BAD_REQUEST',
      retryable: false,
      partial: false,
    },
    {
      name: 'a drop mid-stream',
      scenario: { tokenCount: 30, dropAfter: 7 },
      code: 'UPSTREAM_DROPPED',
      retryable: true,
      partial: true,
    },
    {
      name: 'a stall mid-stream',
      scenario: { tokenCount: 30, stallAfter: 5 },
      code: 'UPSTREAM_STALLED',
      retryable: true,
      partial: true,
    },
    {
      name: 'a stall before the headers',
      scenario: { headersDelayMs: 5000 },
      code: 'UPSTREAM_TIMEOUT',
      retryable: true,
      partial: false,
    },
    {
      name: 'a malformed chunk',
      scenario: { tokenCount: 30, malformedAfter: 4 },
      code: 'UPSTREAM_BAD_RESPONSE',
      retryable: true,
      partial: true,
    },
  ];

describe('upstream faults', () => {
  for (const fault of faults) {
    it(`${fault.name} ends the stream with error ${fault.code}`, async () => {
      const result = await streamWith(fault.scenario);
      const terminal = lastEvent(result.frames);
      expect(terminal).toMatchObject({ type: 'error', code: fault.code, retryable: fault.retryable });
      expect(result.frames.filter((frame) => frame.data.type === 'done')).toHaveLength(0);
      // Safe to show: no upstream body, no stack, no key.
      const message = terminal?.type === 'error' ? terminal.message : '';
      expect(message).not.toMatch(/rate_limit_exceeded|server_error|invalid_api_key|Error:|\bat\b.*:\d+/);
      // The client gets what the upstream sent up to the fault (a malformed chunk may be followed by more bytes).
      const sent = server.upstream.requests[0]?.textSent ?? '';
      const text = tokenText(result.frames);
      expect(sent.startsWith(text)).toBe(true);
      expect(text.length > 0).toBe(fault.partial);

      await server.app.chat.settled();
      const start = result.frames[0]?.data as Extract<RunEvent, { type: 'start' }>;
      const stored = (await server.app.stores.conversations.listMessages(start.conversationId)).at(-1);
      expect(stored).toMatchObject({ status: 'failed', errorCode: fault.code, content: text });
    });
  }

  it('a malformed chunk cuts the answer exactly where it appeared', async () => {
    const result = await streamWith({ tokenCount: 30, seed: 4, malformedAfter: 4 });
    const tokens = server.upstream.fullText({ tokenCount: 4, seed: 4 });
    expect(tokenText(result.frames)).toBe(tokens);
  });

  it('a stalled upstream connection is closed, not left hanging', async () => {
    await streamWith({ tokenCount: 30, stallAfter: 2 });
    const upstream = await server.upstream.waitForClose(1, 2000);
    expect(upstream.closedBy).toBe('client');
  });

  it('multi-byte characters split across TCP writes arrive intact', async () => {
    const tokens = ['héllo ', '漢字', ' 😀', '👩‍💻', ' ñ'];
    const result = await streamWith({ tokens, splitMultibyte: true });
    expect(lastEvent(result.frames)).toMatchObject({ type: 'done', text: tokens.join('') });
    expect(tokenText(result.frames)).not.toContain('\uFFFD');
  });

  it('an upstream that refuses connections gives UPSTREAM_UNAVAILABLE', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
      });
    });
    const offline = await startTestServer({ LLM_BASE_URL: `http://127.0.0.1:${closedPort}/v1` });
    try {
      const result = await readSse(`${offline.url}/api/chat/stream`, { body: { message: 'anyone there?' } });
      expect(lastEvent(result.frames)).toMatchObject({
        type: 'error',
        code: 'UPSTREAM_UNAVAILABLE',
        retryable: true,
      });
    } finally {
      await offline.close();
    }
  });
});

describe('run limits', () => {
  it('a run longer than RUN_MAX_DURATION_MS ends with RUN_TIMEOUT and closes the upstream', async () => {
    const limited = await startTestServer(
      { RUN_MAX_DURATION_MS: '300' },
      { tokenCount: 1000, interTokenMs: 10 },
    );
    try {
      const result = await readSse(`${limited.url}/api/chat/stream`, { body: { message: 'take your time' } });
      expect(lastEvent(result.frames)).toMatchObject({ type: 'error', code: 'RUN_TIMEOUT', retryable: true });
      expect((await limited.upstream.waitForClose(1, 2000)).closedBy).toBe('client');
    } finally {
      await limited.close();
    }
  });

  it('a run larger than RUN_MAX_BYTES ends with RUN_LOG_LIMIT and closes the upstream', async () => {
    const limited = await startTestServer({ RUN_MAX_BYTES: '8192' }, { tokenCount: 5000, interTokenMs: 1 });
    try {
      const result = await readSse(`${limited.url}/api/chat/stream`, { body: { message: 'say a lot' } });
      expect(lastEvent(result.frames)).toMatchObject({
        type: 'error',
        code: 'RUN_LOG_LIMIT',
        retryable: false,
      });
      expect((await limited.upstream.waitForClose(1, 2000)).closedBy).toBe('client');
    } finally {
      await limited.close();
    }
  });

  it('with no provider configured the extractive answerer says so plainly instead of pretending', async () => {
    const unconfigured = await startTestServer({ LLM_PROVIDER: 'none' });
    try {
      const result = await readSse(`${unconfigured.url}/api/chat/stream`, { body: { message: 'hello?' } });
      expect(result.frames[0]?.data).toMatchObject({ type: 'start', provider: 'extractive', model: 'none' });
      const done = lastEvent(result.frames);
      expect(done).toMatchObject({
        type: 'done',
        finishReason: 'stop',
        usage: { inputTokens: 0, outputTokens: 0 },
      });
      expect(tokenText(result.frames)).toMatch(/^No language model is configured/);
      expect(tokenText(result.frames)).toContain('LLM_BASE_URL and LLM_MODEL');
    } finally {
      await unconfigured.close();
    }
  });
});
