// Reader ceilings over real HTTP/SSE and WebSocket (issue 12, finding 12): with no limits (an open install), 3,000
// readers of one run that never read made /healthz take 16-33 s. Every mode now caps readers per run
// (RUN_MAX_READERS) and per process (MAX_READERS); the reader past a ceiling gets a coded TOO_MANY_READERS.

import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { call, expectRefusal } from '../helpers/http.ts';
import { readSse } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { connectWs, type WsTestClient } from '../helpers/ws-client.ts';

let server: TestServer | undefined;
const sockets: Socket[] = [];
const clients: WsTestClient[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const client of clients.splice(0)) client.socket.terminate();
  await server?.close();
  server = undefined;
});

/** A reader that sends its request and then never reads a byte (its socket is paused). */
function stalledReader(testServer: TestServer, runId: string): Promise<{ socket: Socket; head: string }> {
  const { port } = new URL(testServer.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    sockets.push(socket);
    let head = '';
    socket.setEncoding('latin1');
    socket.on('error', reject);
    const onData = (chunk: string): void => {
      head += chunk;
      // The status line is enough to know whether the reader was admitted; then it stops reading.
      if (!head.includes('\r\n')) return;
      socket.off('data', onData);
      socket.pause();
      resolve({ socket, head });
    };
    socket.on('data', onData);
    socket.write(
      `GET /api/runs/${runId}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
    );
  });
}

/** Starts an answer that streams slowly and returns its run id (the POST reader keeps reading in the background). */
async function slowRun(testServer: TestServer): Promise<{ runId: string; done: Promise<unknown> }> {
  let resolveRunId: (runId: string) => void = () => undefined;
  const runId = new Promise<string>((resolve) => (resolveRunId = resolve));
  const done = readSse(`${testServer.url}/api/chat/stream`, {
    body: { message: 'a long answer' },
    onFrame: (frame) => {
      if (frame.data.type === 'start') resolveRunId(frame.data.runId);
    },
  });
  return { runId: await runId, done };
}

const readers = async (testServer: TestServer, runId: string): Promise<number> =>
  (await testServer.app.hub.info(runId))?.readers ?? -1;

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('readers per run (RUN_MAX_READERS)', () => {
  it('refuses the reader past the ceiling over SSE and WebSocket; a reader that leaves frees its slot', async () => {
    server = await startTestServer(
      { RUN_MAX_READERS: '4', LIMITS: 'off' },
      { tokenCount: 2000, interTokenMs: 5, seed: 3 },
    );
    const testServer = server;
    const { runId } = await slowRun(testServer);
    // The asker is the first reader; three more fill the run.
    const admitted = await Promise.all([1, 2, 3].map(() => stalledReader(testServer, runId)));
    for (const reader of admitted) expect(reader.head).toMatch(/^HTTP\/1\.1 200/);
    expect(await readers(testServer, runId)).toBe(4);

    // SSE: a plain coded HTTP refusal, not a stream, with Retry-After.
    const refused = await call(testServer, `/api/runs/${runId}/events`, {
      headers: { accept: 'text/event-stream' },
    });
    expectRefusal(refused, 429, 'TOO_MANY_READERS');
    expect(refused.body.error?.message).toContain('RUN_MAX_READERS');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // NDJSON goes through the same hub.
    const ndjson = await call(testServer, `/api/runs/${runId}/events`, {
      headers: { accept: 'application/x-ndjson' },
    });
    expectRefusal(ndjson, 429, 'TOO_MANY_READERS');

    // WebSocket: a coded error frame for the resume.
    const ws = await connectWs(testServer.url);
    clients.push(ws);
    ws.send({ type: 'resume', requestId: 'r1', runId });
    const frame = await ws.waitFor((candidate) => candidate.type === 'error');
    expect(frame).toMatchObject({
      type: 'error',
      requestId: 'r1',
      error: { code: 'TOO_MANY_READERS', status: 429, retryable: true },
    });
    expect(await readers(testServer, runId)).toBe(4);

    // A reader that hangs up frees its slot: the next one is admitted, over WebSocket this time.
    admitted[0]!.socket.destroy();
    await until(async () => (await readers(testServer, runId)) === 3);
    ws.send({ type: 'resume', requestId: 'r2', runId });
    await ws.waitFor(
      (candidate) =>
        candidate.type === 'event' && candidate.runId === runId && candidate.event.type === 'token',
    );
    expect(await readers(testServer, runId)).toBe(4);
    // ... and the WebSocket's reader leaves with its socket.
    ws.socket.close();
    await until(async () => (await readers(testServer, runId)) === 3);
    const again = await stalledReader(testServer, runId);
    expect(again.head).toMatch(/^HTTP\/1\.1 200/);
  });

  it('keeps /healthz answering while 1,000 readers that never read pile onto one run (open install)', async () => {
    server = await startTestServer({}, { tokenCount: 4000, interTokenMs: 2, seed: 4 });
    const testServer = server;
    expect(testServer.app.config.auth.mode).toBe('open');
    const { runId } = await slowRun(testServer);
    const attempts = await Promise.all(Array.from({ length: 1000 }, () => stalledReader(testServer, runId)));
    const statuses = attempts.map((attempt) => attempt.head.slice(9, 12));
    // The default ceiling (64 per run, the asker included) admitted 63 of them; the rest were refused at once.
    expect(statuses.filter((status) => status === '200')).toHaveLength(63);
    expect(statuses.filter((status) => status === '429')).toHaveLength(937);
    expect(await readers(testServer, runId)).toBe(64);
    // The server still answers while the admitted ones stall and the answer streams on.
    for (let probe = 0; probe < 5; probe += 1) {
      const health = await call(testServer, '/healthz');
      expect(health.status).toBe(200);
    }
    expect((await testServer.app.hub.info(runId))?.state).toBe('running');
  });
});

describe('readers per process (MAX_READERS)', () => {
  it('refuses a new answer and another run’s reader when the process is full, until readers leave', async () => {
    server = await startTestServer(
      { MAX_READERS: '3', LIMITS: 'off' },
      { tokenCount: 2000, interTokenMs: 5, seed: 5 },
    );
    const testServer = server;
    const { runId } = await slowRun(testServer);
    const stalled = await Promise.all([1, 2].map(() => stalledReader(testServer, runId)));
    expect(testServer.app.hub.stats().readers).toBe(3);
    // A new answer would have no room for its reader: refused before it starts, nothing generated.
    const calls = testServer.upstream.requests.length;
    const chat = await call(testServer, '/api/chat/stream', { json: { message: 'one more' } });
    expectRefusal(chat, 429, 'TOO_MANY_READERS');
    expect(chat.body.error?.message).toContain('MAX_READERS');
    const ws = await connectWs(testServer.url);
    clients.push(ws);
    ws.send({ type: 'chat', requestId: 'c1', message: 'over the socket' });
    expect(await ws.waitFor((frame) => frame.type === 'error')).toMatchObject({
      requestId: 'c1',
      error: { code: 'TOO_MANY_READERS' },
    });
    expect(testServer.upstream.requests.length).toBe(calls);
    // One leaves: the next answer is served whole.
    stalled[0]!.socket.destroy();
    await until(() => testServer.app.hub.stats().readers === 2);
    testServer.upstream.enqueue({ tokenCount: 5, seed: 6 });
    const served = await readSse(`${testServer.url}/api/chat/stream`, { body: { message: 'now?' } });
    expect(served.status).toBe(200);
    expect(served.frames.at(-1)?.data.type).toBe('done');
  });
});
