// Graceful shutdown of a real server process: SIGTERM during 20 open streams. Every answer is either delivered
// whole or stored as stopped with its partial text, new answers are refused, /readyz says not ready, and the process
// exits 0 within SHUTDOWN_GRACE_MS.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/core/events.ts';
import { openStores } from '../../src/stores/open-stores.ts';
import { startFakeUpstream, type FakeUpstream } from '../fakes/openai-upstream.ts';
import { freePort } from '../helpers/ports.ts';
import { readSse, tokenText, type SseReadResult } from '../helpers/sse-client.ts';
import { connectWs, isTerminalFrame } from '../helpers/ws-client.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const GRACE_MS = 1500;
const STREAMS = 20;

async function waitForReady(url: string, child: ChildProcess): Promise<void> {
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`server exited early with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('server did not become ready');
}

interface ServerProcess {
  child: ChildProcess;
  port: number;
  url: string;
  exited: Promise<{ code: number | null; at: number }>;
  stderr: () => string;
}

/** `rivulet serve` as a child process against the fake upstream, ready to answer. */
async function startServerProcess(
  upstreamUrl: string,
  cwd: string,
  env: Record<string, string>,
): Promise<ServerProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--experimental-strip-types', CLI, 'serve'], {
    cwd,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: ':memory:',
      SAMPLE_CORPUS: 'false',
      LLM_PROVIDER: 'openai-compatible',
      LLM_BASE_URL: upstreamUrl,
      LLM_MODEL: 'fake-model',
      SHUTDOWN_GRACE_MS: String(GRACE_MS),
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.once('exit', (code) => resolve({ code, at: performance.now() })),
  );
  await waitForReady(url, child);
  return { child, port, url, exited, stderr: () => stderr };
}

describe('SIGTERM with 20 open streams', () => {
  let upstream: FakeUpstream;
  let dataDir: string;
  beforeAll(async () => {
    upstream = await startFakeUpstream();
    dataDir = mkdtempSync(join(tmpdir(), 'rivulet-shutdown-'));
  });
  afterAll(async () => {
    await upstream.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('finishes or stores every answer, refuses new ones, and exits 0 within the grace period', async () => {
    // Half the answers end well inside the grace period, half would take far longer and must be cut.
    for (let index = 0; index < STREAMS; index += 1) {
      upstream.enqueue(
        index % 2 === 0
          ? { tokenCount: 30, interTokenMs: 20, seed: index + 1 }
          : { tokenCount: 1000, interTokenMs: 20, seed: index + 1 },
      );
    }
    // One more, for a WebSocket client: it finishes in time, and the socket is then closed with 1012.
    upstream.enqueue({ tokenCount: 30, interTokenMs: 20, seed: 99 });
    const server = await startServerProcess(upstream.url, dataDir, { DATA_DIR: join(dataDir, 'data') });
    const { child, url, exited } = server;
    try {
      // Twenty streams, each in flight (a token received) before the signal.
      let streaming = 0;
      let allStreaming: () => void = () => undefined;
      const everyoneStreaming = new Promise<void>((resolve) => (allStreaming = resolve));
      const readers: Promise<SseReadResult>[] = [];
      for (let index = 0; index < STREAMS; index += 1) {
        let counted = false;
        readers.push(
          readSse(`${url}/api/chat/stream`, {
            body: { message: `question ${index}` },
            onFrame: (frame) => {
              if (!counted && frame.data.type === 'token') {
                counted = true;
                if ((streaming += 1) === STREAMS) allStreaming();
              }
            },
          }),
        );
      }
      await everyoneStreaming;
      const ws = await connectWs(url);
      ws.send({ type: 'chat', message: 'over a websocket' });
      await ws.waitFor((frame) => frame.type === 'event' && frame.event.type === 'token');
      const signalledAt = performance.now();
      child.kill('SIGTERM');

      // While draining: not ready, and a new answer is refused with a coded, retryable error.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ error: { code: 'SHUTTING_DOWN' } });
      const refused = await fetch(`${url}/api/chat/stream`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'one more?' }),
      });
      expect(refused.status).toBe(503);
      expect(await refused.json()).toMatchObject({ error: { code: 'SHUTTING_DOWN' } });

      const results = await Promise.all(readers);
      // The WebSocket client gets its whole answer, then the close code that says "reconnect elsewhere".
      const closed = await ws.closed;
      expect(closed.code).toBe(1012);
      const terminal = ws.frames.filter((frame) => isTerminalFrame(frame));
      expect(terminal).toHaveLength(1);
      expect(terminal[0]).toMatchObject({ type: 'event', event: { type: 'done', finishReason: 'stop' } });
      const exit = await exited;
      expect(exit.code, server.stderr()).toBe(0);
      expect(exit.at - signalledAt).toBeLessThan(GRACE_MS + 1500);

      // Nothing lost: compare what each client saw with what the server stored.
      const stores = await openStores({ dataDir: join(dataDir, 'data') });
      let whole = 0;
      let cut = 0;
      try {
        for (const result of results) {
          expect(result.ended).toBe(true);
          const start = result.frames[0]?.data as Extract<RunEvent, { type: 'start' }>;
          const last = result.frames.at(-1)?.data;
          const stored = (await stores.conversations.listMessages(start.conversationId)).at(-1);
          const seen = tokenText(result.frames);
          if (last?.type === 'done') {
            whole += 1;
            expect(last.finishReason).toBe('stop');
            expect(stored).toMatchObject({ role: 'assistant', status: 'complete', content: seen });
          } else {
            cut += 1;
            expect(last).toMatchObject({ type: 'error', code: 'SHUTTING_DOWN', retryable: true });
            expect(stored).toMatchObject({
              role: 'assistant',
              status: 'stopped',
              errorCode: 'SHUTTING_DOWN',
            });
            // Stored: at least what the client saw, at most what the upstream sent.
            expect(stored?.content.startsWith(seen)).toBe(true);
            expect(seen.length).toBeGreaterThan(0);
          }
        }
      } finally {
        await stores.close();
      }
      expect(whole).toBe(STREAMS / 2);
      expect(cut).toBe(STREAMS / 2);
      // The cut answers' upstream calls were closed, not left generating.
      const long = upstream.requests.filter((request) => request.scenario.tokenCount === 1000);
      expect(long).toHaveLength(STREAMS / 2);
      expect(long.every((request) => request.closedBy === 'client' && !request.completed)).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 30_000);

  it('does not wait for a WebSocket peer that never answers the close handshake', async () => {
    const { child, port, exited } = await startServerProcess(upstream.url, dataDir, {});
    try {
      // A raw socket that completes the upgrade and then never says anything again (a phone gone from the network).
      const socket = connect(port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(
        'GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      await new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.on('data', () => undefined);
      socket.on('error', () => undefined);
      const signalledAt = performance.now();
      child.kill('SIGTERM');
      const exit = await exited;
      expect(exit.code).toBe(0);
      // Nothing was running: the drain is immediate, then 500 ms for connections to close before they are cut.
      expect(exit.at - signalledAt).toBeLessThan(3000);
      socket.destroy();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 30_000);

  it('takes a doubled Ctrl-C (the same signal twice within a second, as under npm start) as one graceful request', async () => {
    upstream.reset();
    upstream.enqueue({ tokenCount: 30, interTokenMs: 20, seed: 7 });
    const server = await startServerProcess(upstream.url, dataDir, { SHUTDOWN_GRACE_MS: '5000' });
    const { child, url } = server;
    try {
      let firstToken: () => void = () => undefined;
      const streaming = new Promise<void>((resolve) => (firstToken = resolve));
      const reader = readSse(`${url}/api/chat/stream`, {
        body: { message: 'finish me' },
        onFrame: (frame) => {
          if (frame.data.type === 'token') firstToken();
        },
      });
      await streaming;
      child.kill('SIGINT');
      // The echo arrives separately (signals sent at once would merge into one before node sees them).
      await new Promise((resolve) => setTimeout(resolve, 100));
      child.kill('SIGINT');
      const result = await reader;
      expect(result.frames.at(-1)?.data).toMatchObject({ type: 'done', finishReason: 'stop' });
      expect(tokenText(result.frames)).toBe(upstream.fullText({ tokenCount: 30, seed: 7 }));
      expect((await server.exited).code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 30_000);
});
