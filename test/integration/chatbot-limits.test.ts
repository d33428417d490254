// Per-chatbot stream limits over real HTTP: `limits.maxDurationMs` ends that chatbot's answers with RUN_TIMEOUT and
// `limits.stallTimeoutMs` ends a stalled upstream with UPSTREAM_STALLED, while another chatbot's answers keep the
// configured limits; both set and checked through the admin API and the CLI.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/core/events.ts';
import { RivuletClient } from '../../web/client/client.ts';
import { rivulet, withStores } from '../helpers/cli.ts';
import { call, expectRefusal } from '../helpers/http.ts';
import { readSse } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

/** About 1.2 s of tokens: longer than the short chatbot's deadline, far shorter than the configured one. */
const SLOW = { tokenCount: 60, interTokenMs: 20, seed: 31 };

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ RUN_MAX_DURATION_MS: '60000', LLM_STALL_MS: '30000' }, SLOW);
  // Two chatbots on the default collection: one with short limits of its own, one with the configured ones.
  for (const [id, limits] of [
    ['brief', { maxDurationMs: 300 }],
    ['impatient', { stallTimeoutMs: 300 }],
  ] as const) {
    const created = await call(server, '/api/chatbots', { json: { id, collectionId: 'default', limits } });
    expect(created.status).toBe(201);
    expect(created.body.limits).toEqual({ tokensPerDay: null, ...limits });
  }
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await server.app.chat.settled();
  server.upstream.setScenario(SLOW);
});

async function ask(chatbotId: string | undefined): Promise<RunEvent[]> {
  const result = await readSse(`${server.url}/api/chat/stream`, {
    body: { message: 'a long answer please', ...(chatbotId === undefined ? {} : { chatbotId }) },
  });
  expect(result.status).toBe(200);
  return result.frames.map((frame) => frame.data);
}

async function storedAnswer(events: readonly RunEvent[]) {
  const start = events.find((event) => event.type === 'start');
  if (start?.type !== 'start') throw new Error('no start event');
  await server.app.chat.settled();
  const messages = await server.app.stores.conversations.listMessages(start.conversationId);
  return messages.at(-1);
}

describe('limits.maxDurationMs', () => {
  it("ends that chatbot's answers with RUN_TIMEOUT; the default chatbot's answer completes", async () => {
    const [brief, whole] = await Promise.all([ask('brief'), ask(undefined)]);

    expect(brief.at(-1)).toMatchObject({ type: 'error', code: 'RUN_TIMEOUT' });
    const briefTokens = brief.filter((event) => event.type === 'token').length;
    expect(briefTokens).toBeLessThan(SLOW.tokenCount);
    expect(await storedAnswer(brief)).toMatchObject({ status: 'failed', errorCode: 'RUN_TIMEOUT' });

    expect(whole.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
    expect(whole.filter((event) => event.type === 'token').length).toBeGreaterThan(briefTokens);
    expect(await storedAnswer(whole)).toMatchObject({ status: 'complete' });
  });
});

describe('limits.stallTimeoutMs', () => {
  it("ends that chatbot's stalled upstream with UPSTREAM_STALLED; the default chatbot keeps waiting (LLM_STALL_MS)", async () => {
    // The upstream sends 3 tokens, then nothing, keeping the connection open.
    server.upstream.setScenario({ tokenCount: 20, stallAfter: 3, seed: 32 });
    const startedAt = Date.now();
    const impatient = await ask('impatient');
    expect(impatient.at(-1)).toMatchObject({ type: 'error', code: 'UPSTREAM_STALLED' });
    expect(impatient.filter((event) => event.type === 'token')).toHaveLength(3);
    expect(Date.now() - startedAt).toBeLessThan(5000);
    expect(await storedAnswer(impatient)).toMatchObject({ status: 'failed', errorCode: 'UPSTREAM_STALLED' });

    // The same stall on the default chatbot: well past 300 ms the answer is still open, waiting.
    const client = new RivuletClient({ baseUrl: server.url });
    const stream = client.chat({ message: 'a long answer please' });
    const events: RunEvent[] = [];
    const read = (async () => {
      for await (const event of stream) events.push(event);
    })();
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(events.filter((event) => event.type === 'token')).toHaveLength(3);
    expect(events.some((event) => event.type === 'done' || event.type === 'error')).toBe(false);
    expect(await stream.stop()).toBe(true);
    await read;
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'aborted' });
  });
});

describe('setting the limits', () => {
  it('the admin API changes one limit at a time, null clears it, and refuses out-of-range values naming the field', async () => {
    const patched = await call(server, '/api/chatbots/brief', {
      method: 'PATCH',
      json: { limits: { stallTimeoutMs: 5000, tokensPerDay: 1000 } },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.limits).toEqual({ tokensPerDay: 1000, maxDurationMs: 300, stallTimeoutMs: 5000 });
    const cleared = await call(server, '/api/chatbots/brief', {
      method: 'PATCH',
      json: { limits: { stallTimeoutMs: null, tokensPerDay: null } },
    });
    expect(cleared.body.limits).toEqual({ tokensPerDay: null, maxDurationMs: 300, stallTimeoutMs: null });

    for (const [limits, says] of [
      [{ maxDurationMs: 50 }, /limits\.maxDurationMs/u],
      [{ maxDurationMs: 86_400_001 }, /limits\.maxDurationMs/u],
      [{ stallTimeoutMs: 1.5 }, /limits\.stallTimeoutMs/u],
      [{ stallTimeoutMs: '300' }, /limits\.stallTimeoutMs/u],
      [{ stallTimeoutMs: 600_001 }, /limits\.stallTimeoutMs/u],
      [{ maxDuration: 300 }, /limits/u],
    ] as const) {
      const refused = await call(server, '/api/chatbots/brief', { method: 'PATCH', json: { limits } });
      expectRefusal(refused, 400, 'VALIDATION_FAILED');
      expect(refused.body.error?.message).toMatch(says);
    }
    expect((await server.app.stores.chatbots.getChatbot('brief'))?.limits).toEqual({
      tokensPerDay: null,
      maxDurationMs: 300,
      stallTimeoutMs: null,
    });
  });

  it('the CLI sets, shows and clears them', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'rivulet-limits-cli-'));
    const dataDir = join(cwd, 'data');
    try {
      const created = await rivulet(
        ['chatbots', 'create', 'shop', '--tokens-per-day', '5000', '--max-duration-ms', '45000'],
        cwd,
        dataDir,
      );
      expect(created.code).toBe(0);
      expect(created.stdout).toMatch(/max duration {3}45000 ms/u);
      expect(created.stdout).toMatch(/stall timeout {2}\(LLM_STALL_MS\)/u);
      const updated = await rivulet(
        ['chatbots', 'update', 'shop', '--stall-timeout-ms', '2000'],
        cwd,
        dataDir,
      );
      expect(updated.code).toBe(0);
      expect(updated.stdout).toMatch(/stall timeout {2}2000 ms/u);
      const cleared = await rivulet(['chatbots', 'update', 'shop', '--max-duration-ms', ''], cwd, dataDir);
      expect(cleared.code).toBe(0);
      await withStores(dataDir, async (stores) => {
        expect((await stores.chatbots.getChatbot('shop'))?.limits).toEqual({
          tokensPerDay: 5000,
          maxDurationMs: null,
          stallTimeoutMs: 2000,
        });
      });
      const bad = await rivulet(['chatbots', 'update', 'shop', '--stall-timeout-ms', 'soon'], cwd, dataDir);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/limits\.stallTimeoutMs/u);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });
});
