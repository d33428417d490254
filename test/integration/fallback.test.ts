// Recovery across providers: retries, failover before and after the first token, stalls, blocking fallback.

import { afterEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/core/events.ts';
import { CONTINUE_INSTRUCTION } from '../../src/providers/fallback-chain.ts';
import { startFakeUpstream, type FakeScenario, type FakeUpstream } from '../fakes/openai-upstream.ts';
import { lastEvent, readSse, tokenText, type SseFrameRead } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

let server: TestServer | undefined;
let backup: FakeUpstream | undefined;
afterEach(async () => {
  await server?.close();
  await backup?.close();
  server = undefined;
  backup = undefined;
});

/** Primary fake "a" (the test server's own upstream) and a backup fake "b" behind it in LLM_FALLBACK. */
async function startChain(env: Record<string, string>, primary: FakeScenario, secondary: FakeScenario) {
  backup = await startFakeUpstream({ scenario: secondary });
  server = await startTestServer(
    {
      LLM_MODEL: 'model-a',
      LLM_FALLBACK: `openai-compatible:model-b@${backup.url}`,
      LLM_RETRY_BASE_MS: '10',
      ...env,
    },
    primary,
  );
  return { server, primary: server.upstream, backup };
}

const ask = (testServer: TestServer) =>
  readSse(`${testServer.url}/api/chat/stream`, { body: { message: 'what happened?' } });

const failovers = (frames: SseFrameRead[]) =>
  frames.flatMap((frame) => (frame.data.type === 'failover' ? [frame.data] : []));

describe('before the first token', () => {
  it('a 500 is retried, then the next provider answers: the client sees one clean answer', async () => {
    const chain = await startChain({ LLM_RETRIES: '1' }, { errorStatus: 500 }, { tokenCount: 12, seed: 2 });
    const result = await ask(chain.server);
    expect(chain.primary.requests).toHaveLength(2);
    expect(chain.backup.requests).toHaveLength(1);
    expect(failovers(result.frames)).toEqual([
      expect.objectContaining({
        from: 'openai-compatible:model-a',
        to: 'openai-compatible:model-b',
        reason: 'UPSTREAM_UNAVAILABLE',
      }),
    ]);
    expect(tokenText(result.frames)).toBe(chain.backup.fullText());
    expect(lastEvent(result.frames)).toMatchObject({
      type: 'done',
      finishReason: 'stop',
      text: chain.backup.fullText(),
    });
  });

  it('a 429 with Retry-After is retried on the same provider after the pause it asked for', async () => {
    const chain = await startChain({ LLM_RETRIES: '2' }, { tokenCount: 6, seed: 3 }, { tokenCount: 6 });
    chain.primary.enqueue({ errorStatus: 429, retryAfterSeconds: 1 });
    const result = await ask(chain.server);
    const [first, second] = chain.primary.requests;
    expect(second!.startedAt - first!.startedAt).toBeGreaterThanOrEqual(990);
    expect(chain.backup.requests).toHaveLength(0);
    expect(failovers(result.frames)).toEqual([]);
    expect(tokenText(result.frames)).toBe(chain.primary.fullText());
  });

  it('when streaming fails before the first token, the same request is retried without streaming', async () => {
    const chain = await startChain({ LLM_RETRIES: '0' }, { tokenCount: 8, seed: 4 }, { tokenCount: 8 });
    chain.primary.enqueue({ tokenCount: 8, seed: 4, malformedAfter: 0 });
    const result = await ask(chain.server);
    expect(chain.primary.requests.map((request) => (request.body as { stream: boolean }).stream)).toEqual([
      true,
      false,
    ]);
    expect(chain.backup.requests).toHaveLength(0);
    expect(tokenText(result.frames)).toBe(chain.primary.fullText());
    expect(result.frames.filter((frame) => frame.data.type === 'token')).toHaveLength(1);
  });

  it('a provider that keeps failing is skipped by the circuit breaker', async () => {
    const chain = await startChain(
      { LLM_RETRIES: '0', LLM_BREAKER_FAILURES: '2', LLM_BREAKER_COOLDOWN_MS: '60000' },
      { errorStatus: 503 },
      { tokenCount: 4 },
    );
    for (let index = 0; index < 4; index += 1) {
      expect(lastEvent((await ask(chain.server)).frames)).toMatchObject({ type: 'done' });
    }
    expect(chain.primary.requests).toHaveLength(2);
    expect(chain.backup.requests).toHaveLength(4);
  });
});

describe('after the first token', () => {
  it('a drop fails over with a failover event and the next provider continues the same answer', async () => {
    const chain = await startChain(
      {},
      { tokenCount: 30, seed: 5, dropAfter: 6 },
      { tokenCount: 10, seed: 6 },
    );
    const result = await ask(chain.server);
    const partial = chain.primary.requests[0]!.textSent;
    expect(partial.length).toBeGreaterThan(0);
    expect(failovers(result.frames)).toEqual([expect.objectContaining({ reason: 'UPSTREAM_DROPPED' })]);
    const continued = chain.backup.requests[0]!.body as { messages: { role: string; content: string }[] };
    expect(continued.messages.slice(-2)).toEqual([
      { role: 'assistant', content: partial },
      { role: 'user', content: CONTINUE_INSTRUCTION },
    ]);
    const whole = partial + chain.backup.fullText();
    expect(tokenText(result.frames)).toBe(whole);
    expect(lastEvent(result.frames)).toMatchObject({ type: 'done', finishReason: 'stop', text: whole });
    // Each provider counted only its own part, so the spliced answer's usage is counted locally.
    expect(lastEvent(result.frames)).toMatchObject({ usage: { estimated: true } });
    const start = result.frames[0]!.data as Extract<RunEvent, { type: 'start' }>;
    await chain.server.app.chat.settled();
    const stored = (await chain.server.app.stores.conversations.listMessages(start.conversationId)).at(-1);
    expect(stored).toMatchObject({ status: 'complete', content: whole });
  });

  it('with LLM_FAILOVER_CONTINUE=false a drop ends with a terminal error instead of a spliced answer', async () => {
    const chain = await startChain(
      { LLM_FAILOVER_CONTINUE: 'false' },
      { tokenCount: 30, dropAfter: 6 },
      { tokenCount: 10 },
    );
    const result = await ask(chain.server);
    expect(lastEvent(result.frames)).toMatchObject({ type: 'error', code: 'UPSTREAM_DROPPED' });
    expect(result.frames.some((frame) => frame.data.type === 'done')).toBe(false);
    expect(chain.backup.requests).toHaveLength(0);
  });

  it('a stall fails over within LLM_STALL_MS + 100 ms and closes the stalled connection', async () => {
    const stallMs = 400;
    // Timed at the client: with a write interval the last token before the stall and the failover would each leave up
    // to an interval late (STREAM_WRITE_INTERVAL_MS), blurring the stall timer this measures; written as they come.
    const chain = await startChain(
      { LLM_STALL_MS: String(stallMs), STREAM_WRITE_INTERVAL_MS: '0' },
      { tokenCount: 30, stallAfter: 4 },
      { tokenCount: 5 },
    );
    let lastTokenAt = 0;
    let failoverAt = 0;
    const result = await readSse(`${chain.server.url}/api/chat/stream`, {
      body: { message: 'stall please' },
      onFrame: (frame) => {
        if (frame.data.type === 'token' && failoverAt === 0) lastTokenAt = performance.now();
        if (frame.data.type === 'failover') failoverAt = performance.now();
      },
    });
    expect(failovers(result.frames)).toEqual([expect.objectContaining({ reason: 'UPSTREAM_STALLED' })]);
    expect(failoverAt - lastTokenAt).toBeGreaterThanOrEqual(stallMs - 20);
    expect(failoverAt - lastTokenAt).toBeLessThanOrEqual(stallMs + 100);
    expect((await chain.primary.waitForClose(1)).closedBy).toBe('client');
    expect(lastEvent(result.frames)).toMatchObject({ type: 'done', finishReason: 'stop' });
  });

  it('with no provider left, a drop ends with a terminal error', async () => {
    const chain = await startChain({}, { tokenCount: 30, dropAfter: 3 }, { tokenCount: 30, dropAfter: 2 });
    const result = await ask(chain.server);
    expect(failovers(result.frames)).toHaveLength(1);
    expect(lastEvent(result.frames)).toMatchObject({ type: 'error', code: 'UPSTREAM_DROPPED' });
  });
});

describe('STREAMING_RESPONSE=false', () => {
  it('calls the provider without streaming and still emits the same events: one token, then done', async () => {
    const chain = await startChain(
      { STREAMING_RESPONSE: 'false' },
      { tokenCount: 15, seed: 7 },
      { tokenCount: 3 },
    );
    const result = await ask(chain.server);
    expect((chain.primary.requests[0]!.body as { stream: boolean }).stream).toBe(false);
    const types = result.frames.map((frame) => frame.data.type);
    expect(types.filter((type) => type === 'token')).toHaveLength(1);
    expect(types.slice(-2)).toEqual(['usage', 'done']);
    expect(lastEvent(result.frames)).toMatchObject({ type: 'done', text: chain.primary.fullText() });
  });
});

describe('usage', () => {
  it('is counted with a tokenizer and marked estimated when the provider reports none (Azure AI inference)', async () => {
    const upstream = await startFakeUpstream({ scenario: { tokenCount: 20, seed: 8 } });
    backup = upstream;
    server = await startTestServer({
      LLM_PROVIDER: 'azure-ai',
      LLM_BASE_URL: '',
      AZURE_AI_ENDPOINT: upstream.url.replace(/\/v1$/, ''),
      AZURE_AI_API_KEY: 'k',
      LLM_MODEL: 'Meta-Llama-3.1-8B-Instruct',
    });
    const result = await ask(server);
    expect(upstream.requests[0]?.url).toBe('/models/chat/completions?api-version=2024-05-01-preview');
    const done = lastEvent(result.frames);
    expect(done).toMatchObject({ type: 'done', usage: { estimated: true } });
    expect(done?.type === 'done' && done.usage!.outputTokens).toBeGreaterThan(10);
    expect(done?.type === 'done' && done.usage!.inputTokens).toBeGreaterThan(3);
    expect(result.frames[0]?.data).toMatchObject({
      type: 'start',
      provider: 'azure-ai',
      model: 'Meta-Llama-3.1-8B-Instruct',
    });
  });
});
