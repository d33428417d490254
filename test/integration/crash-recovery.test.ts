// A server killed with SIGKILL mid-answer (issue 12, finding 11): the answer used to vanish (the conversation held only
// the question, and a resume got the 404 of an unknown run). Now the text so far is checkpointed while it streams,
// the next start marks the answer interrupted, and a resume of its run gets RUN_INTERRUPTED, for its owner only.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredMessage } from '../../src/core/conversation-store.ts';
import type { RunEvent } from '../../src/core/events.ts';
import { startFakeUpstream, type FakeScenario, type FakeUpstream } from '../fakes/openai-upstream.ts';
import { signTestJwt } from '../helpers/jwt.ts';
import { freePort } from '../helpers/ports.ts';
import { readSse, tokenText } from '../helpers/sse-client.ts';
import { startTestServer } from '../helpers/test-server.ts';
import { connectWs } from '../helpers/ws-client.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const SECRET = 'crash-recovery-test-secret-of-32-chars!';
const CHECKPOINT_MS = 100;
const LONG_ANSWER: FakeScenario = { tokenCount: 3000, interTokenMs: 5, seed: 11 };

interface ServerProcess {
  child: ChildProcess;
  url: string;
  exited: Promise<unknown>;
}

/** `rivulet serve` as a child process on the given data directory, ready to answer. */
async function startServerProcess(upstreamUrl: string, dataDir: string): Promise<ServerProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--experimental-strip-types', CLI, 'serve'], {
    cwd: dataDir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: join(dataDir, 'data'),
      SAMPLE_CORPUS: 'false',
      LLM_PROVIDER: 'openai-compatible',
      LLM_BASE_URL: upstreamUrl,
      LLM_MODEL: 'fake-model',
      AUTH_JWT_SECRET: SECRET,
      RUN_CHECKPOINT_MS: String(CHECKPOINT_MS),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const until = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early: ${stderr}`);
    if (Date.now() > until) throw new Error(`server did not become ready: ${stderr}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, url, exited };
}

const bearer = async (sub: string): Promise<Record<string, string>> => ({
  authorization: `Bearer ${await signTestJwt(SECRET, sub)}`,
});

async function storedMessages(
  url: string,
  headers: Record<string, string>,
  conversationId: string,
): Promise<StoredMessage[]> {
  const response = await fetch(`${url}/api/conversations/${conversationId}/messages`, { headers });
  expect(response.status).toBe(200);
  return ((await response.json()) as { messages: StoredMessage[] }).messages;
}

describe('SIGKILL while an answer streams', () => {
  let upstream: FakeUpstream;
  let dataDir: string;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    upstream = await startFakeUpstream({ scenario: { tokenCount: 5, seed: 2 } });
    dataDir = mkdtempSync(join(tmpdir(), 'rivulet-crash-'));
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await upstream.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps the partial answer as interrupted, and a resume of its run gets RUN_INTERRUPTED', async () => {
    const alice = await bearer('alice');
    const bob = await bearer('bob');
    const first = await startServerProcess(upstream.url, dataDir);
    children.push(first.child);
    upstream.enqueue(LONG_ANSWER);

    // Stream until some tokens arrived, note them, let a few checkpoint intervals pass while more arrive, then kill.
    let start: Extract<RunEvent, { type: 'start' }> | undefined;
    let lastEventId: string | undefined;
    let tokens = 0;
    let reached: () => void = () => undefined;
    const enoughTokens = new Promise<void>((resolve) => (reached = resolve));
    const reading = readSse(`${first.url}/api/chat/stream`, {
      body: { message: 'tell me a long story' },
      headers: alice,
      onFrame: (frame) => {
        if (frame.data.type === 'start') start = frame.data;
        if (frame.data.type === 'token') {
          lastEventId = frame.id;
          if ((tokens += 1) === 40) reached();
        }
      },
    }).catch(() => undefined);
    await enoughTokens;
    if (start === undefined || lastEventId === undefined) throw new Error('no start event or token id');
    const { runId, conversationId } = start;

    // While it streams, the conversation shows the answer as streaming with its latest checkpoint.
    await new Promise((resolve) => setTimeout(resolve, CHECKPOINT_MS * 3));
    const midway = (await storedMessages(first.url, alice, conversationId)).at(-1);
    expect(midway).toMatchObject({ role: 'assistant', status: 'streaming', runId });
    const checkpointed = midway?.content ?? '';
    expect(checkpointed.length).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, CHECKPOINT_MS * 3));

    first.child.kill('SIGKILL');
    await first.exited;
    const seen = await reading;
    expect(seen?.ended ?? false).toBe(false);
    const fullText = upstream.fullText(LONG_ANSWER);

    const second = await startServerProcess(upstream.url, dataDir);
    children.push(second.child);
    try {
      // The conversation holds the question and the answer's text so far, marked interrupted.
      const messages = await storedMessages(second.url, alice, conversationId);
      expect(messages.map((message) => message.role)).toEqual(['user', 'assistant']);
      const answer = messages[1]!;
      expect(answer).toMatchObject({
        status: 'interrupted',
        errorCode: 'RUN_INTERRUPTED',
        finishReason: 'aborted',
        runId,
      });
      expect(answer.content.length).toBeGreaterThan(checkpointed.length);
      expect(fullText.startsWith(answer.content)).toBe(true);
      expect(answer.content.length).toBeLessThan(fullText.length);
      if (seen !== undefined) expect(fullText.startsWith(tokenText(seen.frames))).toBe(true);

      // A resume over SSE (Last-Event-ID, as EventSource sends it) is told the answer was cut off: 410, not 404.
      const resumed = await fetch(`${second.url}/api/runs/${runId}/events`, {
        headers: { ...alice, accept: 'text/event-stream', 'last-event-id': lastEventId },
      });
      expect(resumed.status).toBe(410);
      expect(await resumed.json()).toMatchObject({ error: { code: 'RUN_INTERRUPTED' } });

      // Over WebSocket too, as a coded error frame.
      const ws = await connectWs(second.url, { headers: alice });
      try {
        ws.send({ type: 'resume', requestId: 'again', runId, lastSeq: Number(lastEventId.split(':')[1]) });
        expect(await ws.waitFor((frame) => frame.type === 'error')).toMatchObject({
          requestId: 'again',
          runId,
          error: { code: 'RUN_INTERRUPTED', status: 410, retryable: false },
        });
      } finally {
        ws.socket.close();
      }

      // Another user learns nothing: the same 404 as for a run that never existed, over SSE and WebSocket.
      const foreign = await fetch(`${second.url}/api/runs/${runId}/events`, {
        headers: { ...bob, accept: 'text/event-stream' },
      });
      expect(foreign.status).toBe(404);
      expect(await foreign.json()).toMatchObject({ error: { code: 'RUN_NOT_FOUND' } });
      const bobWs = await connectWs(second.url, { headers: bob });
      try {
        bobWs.send({ type: 'resume', requestId: 'probe', runId });
        expect(await bobWs.waitFor((frame) => frame.type === 'error')).toMatchObject({
          error: { code: 'RUN_NOT_FOUND' },
        });
      } finally {
        bobWs.socket.close();
      }
      const unknown = await fetch(`${second.url}/api/runs/run_${'x'.repeat(22)}/events`, { headers: alice });
      expect(unknown.status).toBe(404);

      // The conversation goes on: the question can be asked again in it.
      const again = await readSse(`${second.url}/api/chat/stream`, {
        body: { message: 'tell me a long story', conversationId },
        headers: alice,
      });
      expect(again.frames.at(-1)?.data).toMatchObject({ type: 'done', finishReason: 'stop' });
      const after = await storedMessages(second.url, alice, conversationId);
      expect(after.map((message) => message.status ?? 'question')).toEqual([
        'question',
        'interrupted',
        'question',
        'complete',
      ]);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 60_000);
});

describe('checkpoints while an answer streams', () => {
  it('save growing prefixes; one that fails is logged and the answer still streams and is stored whole', async () => {
    const server = await startTestServer(
      { RUN_CHECKPOINT_MS: '20' },
      { tokenCount: 60, interTokenMs: 5, seed: 12 },
    );
    try {
      const conversations = server.app.stores.conversations;
      const saved: string[] = [];
      let calls = 0;
      const original = conversations.checkpointMessages.bind(conversations);
      conversations.checkpointMessages = async (checkpoints) => {
        calls += 1;
        saved.push(...checkpoints.map((checkpoint) => checkpoint.content));
        // Every other save fails, as a store that is briefly unavailable would.
        if (calls % 2 === 0) throw new Error('store unavailable');
        await original(checkpoints);
      };
      const result = await readSse(`${server.url}/api/chat/stream`, { body: { message: 'checkpoint me' } });
      expect(result.frames.at(-1)?.data).toMatchObject({ type: 'done', finishReason: 'stop' });
      const fullText = server.upstream.fullText();
      expect(tokenText(result.frames)).toBe(fullText);
      // Several checkpoints ran, each with a longer prefix of the answer.
      expect(calls).toBeGreaterThan(2);
      for (const text of saved) expect(fullText.startsWith(text)).toBe(true);
      const start = result.frames[0]?.data as Extract<RunEvent, { type: 'start' }>;
      await server.app.chat.settled();
      const messages = await conversations.listMessages(start.conversationId);
      expect(messages.at(-1)).toMatchObject({ role: 'assistant', status: 'complete', content: fullText });
    } finally {
      await server.close();
    }
  });
});
