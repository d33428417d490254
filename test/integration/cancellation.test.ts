// Stop and disconnect: the upstream connection really closes (read from the fake upstream's own log).

import { afterEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/core/events.ts';
import { lastEvent, readSse, tokenText } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { connectWs, isTerminalFrame } from '../helpers/ws-client.ts';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const slowAnswer = { tokenCount: 2000, interTokenMs: 10, seed: 3 };

async function storedAnswer(testServer: TestServer, conversationId: string) {
  await testServer.app.chat.settled();
  const messages = await testServer.app.stores.conversations.listMessages(conversationId);
  return messages.at(-1);
}

describe('POST /api/runs/:runId/stop', () => {
  it('closes the upstream connection within 100 ms and ends the stream with done(aborted) and the partial text', async () => {
    server = await startTestServer({}, slowAnswer);
    const testServer = server;
    let stopSentAt = 0;
    let runId = '';
    const stream = readSse(`${testServer.url}/api/chat/stream`, {
      body: { message: 'stop me' },
      onFrame: (frame) => {
        if (frame.data.type === 'start') runId = frame.data.runId;
        if (frame.data.type === 'token' && frame.data.seq === 10) {
          stopSentAt = performance.now();
          void fetch(`${testServer.url}/api/runs/${runId}/stop`, { method: 'POST' });
        }
      },
    });
    const result = await stream;
    const upstream = await testServer.upstream.waitForClose(1);
    expect(upstream.closedBy).toBe('client');
    expect(upstream.completed).toBe(false);
    expect(upstream.closedAt! - stopSentAt).toBeLessThanOrEqual(100);

    const done = lastEvent(result.frames);
    expect(done).toMatchObject({ type: 'done', finishReason: 'aborted' });
    // Tokens generated before the stop were paid for: the done event says how many (counted locally).
    expect(done).toMatchObject({ usage: { estimated: true } });
    const text = tokenText(result.frames);
    expect(done?.type === 'done' && done.text).toBe(text);
    expect(testServer.upstream.fullText().startsWith(text)).toBe(true);
    expect(text.length).toBeLessThan(testServer.upstream.fullText().length);

    const start = result.frames[0]?.data as Extract<RunEvent, { type: 'start' }>;
    const stored = await storedAnswer(testServer, start.conversationId);
    expect(stored).toMatchObject({
      role: 'assistant',
      status: 'stopped',
      content: text,
      finishReason: 'aborted',
    });
  });

  it('answers 404 for an unknown run and reports a finished run as not stopped', async () => {
    server = await startTestServer({}, { tokenCount: 3 });
    const unknown = await fetch(`${server.url}/api/runs/run_doesnotexist/stop`, { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'RUN_NOT_FOUND' } });

    const result = await readSse(`${server.url}/api/chat/stream`, { body: { message: 'quick' } });
    const runId = result.headers['x-run-id'] as string;
    const finished = await fetch(`${server.url}/api/runs/${runId}/stop`, { method: 'POST' });
    expect(finished.status).toBe(200);
    expect(await finished.json()).toEqual({ runId, stopped: false, state: 'finished' });
  });
});

describe('client disconnect', () => {
  it('is not a stop: with no reader back, the upstream closes after the grace period (within grace + 100 ms)', async () => {
    const graceMs = 400;
    server = await startTestServer({ RUN_GRACE_MS: String(graceMs) }, slowAnswer);
    let droppedAt = 0;
    let tokens = 0;
    const result = await readSse(`${server.url}/api/chat/stream`, {
      body: { message: 'then I leave' },
      onFrame: (frame) => {
        if (frame.data.type === 'token' && (tokens += 1) === 5) {
          droppedAt = performance.now();
          return true;
        }
        return false;
      },
    });
    expect(result.ended).toBe(false);
    const upstream = await server.upstream.waitForClose(1, 5000);
    expect(upstream.closedBy).toBe('client');
    const elapsed = upstream.closedAt! - droppedAt;
    expect(elapsed).toBeGreaterThanOrEqual(graceMs - 5);
    expect(elapsed).toBeLessThanOrEqual(graceMs + 100);

    const start = result.frames[0]?.data as Extract<RunEvent, { type: 'start' }>;
    const stored = await storedAnswer(server, start.conversationId);
    expect(stored?.status).toBe('stopped');
    // Stored: everything Rivulet received, which is at least what the client saw and at most what was sent
    // (the last tokens may still have been in flight when the upstream socket closed).
    expect(stored?.content.startsWith(tokenText(result.frames))).toBe(true);
    expect(server.upstream.requests[0]?.textSent.startsWith(stored?.content ?? '')).toBe(true);
  });

  it('a reader that returns within the grace period gets the whole answer', async () => {
    // The answer (~2 s) outlasts the grace (300 ms) many times over: only a cancelled grace timer lets it finish.
    server = await startTestServer({ RUN_GRACE_MS: '300' }, { tokenCount: 300, interTokenMs: 7, seed: 5 });
    const first = await readSse(`${server.url}/api/chat/stream`, {
      body: { message: 'I will be back' },
      onFrame: (frame) => frame.data.type === 'token' && frame.data.seq >= 20,
    });
    const runId = first.headers['x-run-id'] as string;
    await new Promise((resolve) => setTimeout(resolve, 150));
    const second = await readSse(`${server.url}/api/runs/${runId}/events`, {
      headers: { 'last-event-id': first.frames.at(-1)!.id! },
    });
    expect(tokenText([...first.frames, ...second.frames])).toBe(server.upstream.fullText());
    expect(lastEvent(second.frames)).toMatchObject({ type: 'done', finishReason: 'stop' });
    expect(server.upstream.requests[0]?.completed).toBe(true);
    const start = first.frames[0]?.data as Extract<RunEvent, { type: 'start' }>;
    expect(await storedAnswer(server, start.conversationId)).toMatchObject({ status: 'complete' });
  });

  it('with RUN_DISCONNECT_POLICY=finish the answer is generated to the end and stored', async () => {
    server = await startTestServer(
      { RUN_GRACE_MS: '50', RUN_DISCONNECT_POLICY: 'finish' },
      { tokenCount: 100, interTokenMs: 3, seed: 9 },
    );
    const result = await readSse(`${server.url}/api/chat/stream`, {
      body: { message: 'finish without me' },
      onFrame: (frame) => frame.data.type === 'token',
    });
    const upstream = await server.upstream.waitForClose(1, 5000);
    expect(upstream.completed).toBe(true);
    const start = result.frames[0]?.data as Extract<RunEvent, { type: 'start' }>;
    const stored = await storedAnswer(server, start.conversationId);
    expect(stored).toMatchObject({ status: 'complete', content: server.upstream.fullText() });
  });
});

describe('WebSocket stop', () => {
  it('closes the upstream connection within 100 ms', async () => {
    server = await startTestServer({}, slowAnswer);
    const client = await connectWs(server.url);
    client.send({ type: 'chat', message: 'stop me over ws', requestId: 'a' });
    const accepted = await client.waitFor((frame) => frame.type === 'accepted');
    const runId = accepted.type === 'accepted' ? accepted.runId : '';
    await client.waitFor(
      (frame) => frame.type === 'event' && frame.event.type === 'token' && frame.event.seq > 8,
    );
    const stopSentAt = performance.now();
    client.send({ type: 'stop', runId });
    await client.waitFor((frame) => frame.type === 'stopped' && frame.stopped);
    const terminal = await client.waitFor((frame) => isTerminalFrame(frame, runId));
    expect(terminal.type === 'event' && terminal.event).toMatchObject({
      type: 'done',
      finishReason: 'aborted',
    });
    const upstream = await server.upstream.waitForClose(1);
    expect(upstream.closedBy).toBe('client');
    expect(upstream.closedAt! - stopSentAt).toBeLessThanOrEqual(100);
    client.socket.close();
  });
});

describe('POST /api/chat disconnect', () => {
  it('a caller that hangs up on the JSON endpoint is a disconnect: the upstream closes after the grace period', async () => {
    const graceMs = 300;
    server = await startTestServer({ RUN_GRACE_MS: String(graceMs) }, slowAnswer);
    const controller = new AbortController();
    const request = fetch(`${server.url}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'never mind' }),
      signal: controller.signal,
    }).catch((error: unknown) => error);
    const log = await server.upstream.waitForRequest(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const hungUpAt = performance.now();
    controller.abort();
    await request;
    const closed = await server.upstream.waitForClose(log.id, 5000);
    expect(closed.closedBy).toBe('client');
    expect(closed.closedAt! - hungUpAt).toBeGreaterThanOrEqual(graceMs - 5);
    expect(closed.closedAt! - hungUpAt).toBeLessThanOrEqual(graceMs + 100);
  });
});

describe('closing the server', () => {
  it('ends open streams with SHUTTING_DOWN, closes their upstream calls and does not hang', async () => {
    const testServer = await startTestServer({}, slowAnswer);
    const streams = Array.from({ length: 5 }, () =>
      readSse(`${testServer.url}/api/chat/stream`, { body: { message: 'still talking' } }),
    );
    for (let id = 1; id <= 5; id += 1) await testServer.upstream.waitForRequest(id);
    await testServer.app.close();
    for (const result of await Promise.all(streams)) {
      expect(lastEvent(result.frames)).toMatchObject({
        type: 'error',
        code: 'SHUTTING_DOWN',
        retryable: true,
      });
    }
    for (let id = 1; id <= 5; id += 1) {
      expect((await testServer.upstream.waitForClose(id)).closedBy).toBe('client');
    }
    await testServer.upstream.close();
  });
});
