// The WebSocket endpoint: chat events, coded errors for bad messages, and dropping dead or misbehaving peers.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { connectWs, isTerminalFrame } from '../helpers/ws-client.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ WS_PING_MS: '100' }, { tokenCount: 25, seed: 31 });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.upstream.reset();
  server.upstream.setScenario({ tokenCount: 25, seed: 31 });
});

describe('GET /api/ws', () => {
  it('accepts a chat, streams its events in order and keeps the socket open for the next one', async () => {
    const client = await connectWs(server.url);
    for (const requestId of ['first', 'second']) {
      client.send({ type: 'chat', message: `question ${requestId}`, requestId });
      const accepted = await client.waitFor(
        (frame) => frame.type === 'accepted' && frame.requestId === requestId,
      );
      const runId = accepted.type === 'accepted' ? accepted.runId : '';
      await client.waitFor((frame) => isTerminalFrame(frame, runId));
      const events = client.frames.flatMap((frame) =>
        frame.type === 'event' && frame.runId === runId ? [frame.event] : [],
      );
      expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
      expect(events[0]).toMatchObject({ type: 'start', runId });
      expect(events.at(-1)).toMatchObject({ type: 'done', text: server.upstream.fullText() });
    }
    expect(client.socket.readyState).toBe(client.socket.OPEN);
    client.socket.close();
  });

  it('answers malformed messages with coded error frames and stays usable', async () => {
    const client = await connectWs(server.url);
    client.send('{not json');
    expect(await client.waitFor((frame) => frame.type === 'error')).toMatchObject({
      error: { code: 'INVALID_JSON' },
    });
    client.send({ type: 'chat', requestId: 'r-empty', message: '' });
    expect(
      await client.waitFor((frame) => frame.type === 'error' && frame.requestId === 'r-empty'),
    ).toMatchObject({
      error: { code: 'VALIDATION_FAILED' },
    });
    client.send({ type: 'launch-missiles', requestId: 'r-type' });
    expect(
      await client.waitFor((frame) => frame.type === 'error' && frame.requestId === 'r-type'),
    ).toMatchObject({
      error: { code: 'VALIDATION_FAILED' },
    });
    client.send({ type: 'resume', runId: 'run_unknown', lastSeq: 3, requestId: 'r-resume' });
    expect(
      await client.waitFor((frame) => frame.type === 'error' && frame.requestId === 'r-resume'),
    ).toMatchObject({
      error: { code: 'RUN_NOT_FOUND' },
    });
    client.send({ type: 'stop', runId: 'run_unknown', requestId: 'r-stop' });
    expect(
      await client.waitFor((frame) => frame.type === 'error' && frame.requestId === 'r-stop'),
    ).toMatchObject({
      error: { code: 'RUN_NOT_FOUND' },
    });
    client.send({ type: 'chat', message: 'still here?', requestId: 'ok' });
    await client.waitFor((frame) => frame.type === 'accepted' && frame.requestId === 'ok');
    await client.waitFor((frame) => isTerminalFrame(frame));
    expect(server.upstream.requests).toHaveLength(1);
    client.socket.close();
  });

  it('acknowledges resume, even when the client already has every event of a finished run', async () => {
    const client = await connectWs(server.url);
    client.send({ type: 'chat', message: 'finish first', requestId: 'c' });
    const accepted = await client.waitFor((frame) => frame.type === 'accepted');
    const runId = accepted.type === 'accepted' ? accepted.runId : '';
    const terminal = await client.waitFor((frame) => isTerminalFrame(frame, runId));
    const lastSeq = terminal.type === 'event' ? terminal.event.seq : -1;
    client.send({ type: 'resume', runId, lastSeq, requestId: 'again' });
    expect(await client.waitFor((frame) => frame.type === 'resumed')).toEqual({
      type: 'resumed',
      requestId: 'again',
      runId,
      state: 'finished',
      afterSeq: lastSeq,
      lastSeq,
    });
    client.socket.close();
  });

  it('closes with 1003 on binary frames and 1009 on oversized messages', async () => {
    const binary = await connectWs(server.url);
    binary.socket.send(Buffer.from([1, 2, 3]));
    expect((await binary.closed).code).toBe(1003);

    const oversized = await connectWs(server.url);
    oversized.send({ type: 'chat', message: 'x'.repeat(300 * 1024) });
    expect((await oversized.closed).code).toBe(1009);
  });

  it('answers a plain HTTP GET with 426 UPGRADE_REQUIRED', async () => {
    const response = await fetch(`${server.url}/api/ws`);
    expect(response.status).toBe(426);
    expect(await response.json()).toMatchObject({ error: { code: 'UPGRADE_REQUIRED' } });
  });

  it('drops a peer that stops answering pings', async () => {
    const client = await connectWs(server.url, { autoPong: false });
    const closedAt = await Promise.race([
      client.closed.then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('still open'), 2000)),
    ]);
    expect(closedAt).toBe('closed');
  });

  it('keeps a peer that answers pings', async () => {
    const client = await connectWs(server.url);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(client.socket.readyState).toBe(client.socket.OPEN);
    client.socket.close();
  });
});
