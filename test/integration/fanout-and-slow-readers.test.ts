// Several readers of one run: identical sequences, and a reader that stops reading slows nobody down.

import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_BATCH_ENTRIES } from '../../src/stores/memory/run-log.ts';
import { readSse, tokenText } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { connectWs, isTerminalFrame } from '../helpers/ws-client.ts';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('fan-out', () => {
  it('two live readers of one run receive identical event sequences', async () => {
    server = await startTestServer({}, { tokenCount: 200, interTokenMs: 2, ttftMs: 300, seed: 21 });
    const testServer = server;
    let joined: ReturnType<typeof readSse> | undefined;
    const first = await readSse(`${testServer.url}/api/chat/stream`, {
      body: { message: 'watch with me' },
      onFrame: (frame) => {
        // The second viewer joins as soon as the run exists, before the first token (ttft is 300 ms).
        if (frame.data.type === 'start' && joined === undefined) {
          joined = readSse(`${testServer.url}/api/runs/${frame.data.runId}/events`);
        }
      },
    });
    const second = await joined!;
    expect(second.status).toBe(200);
    expect(second.frames).toEqual(first.frames);
    expect(tokenText(first.frames)).toBe(testServer.upstream.fullText());
  });

  it('a late joiner catches up with the same text and ends on the same event', async () => {
    server = await startTestServer({}, { tokenCount: 300, interTokenMs: 2, seed: 22 });
    const first = await readSse(`${server.url}/api/chat/stream`, { body: { message: 'late viewer' } });
    const runId = first.headers['x-run-id'] as string;
    const late = await readSse(`${server.url}/api/runs/${runId}/events`);
    expect(tokenText(late.frames)).toBe(tokenText(first.frames));
    expect(late.frames.at(-1)).toEqual(first.frames.at(-1));
    // The backlog came merged, in far fewer frames.
    expect(late.frames.length).toBeLessThan(first.frames.length / 10);
  });
});

describe('a reader that reads nothing', () => {
  it('for 10 s does not delay the producer or a normal reader, and server memory stays bounded', async () => {
    // Large tokens so the paused reader fills its socket buffers and the server sees backpressure.
    const tokenCount = 2500;
    const bigTokens = Array.from(
      { length: tokenCount },
      (_, index) => `${String(index).padStart(6, '0')}${'x'.repeat(2000)} `,
    );
    server = await startTestServer(
      { RUN_MAX_BYTES: String(64 * 1024 * 1024), RUN_MAX_EVENTS: '10000' },
      { tokens: bigTokens, interTokenMs: 3, ttftMs: 300 },
    );
    const testServer = server;
    // Userland bytes queued on each server-side socket: what a stalled reader could make the server hold.
    let maxQueuedBytes = 0;
    const serverSockets = new Set<Socket>();
    testServer.app.server.server.on('connection', (socket: Socket) => serverSockets.add(socket));
    const sampler = setInterval(() => {
      for (const socket of serverSockets) maxQueuedBytes = Math.max(maxQueuedBytes, socket.writableLength);
    }, 20);

    // The stalled reader: a raw socket that sends the request, then never reads (paused: the kernel buffer fills).
    let runId = '';
    const gaps: number[] = [];
    let lastTokenAt = 0;
    let stalledSocket: ReturnType<typeof connect> | undefined;
    let stalledReceived = 0;
    let stalledSince = 0;
    const normal = readSse(`${testServer.url}/api/chat/stream`, {
      body: { message: 'fast reader' },
      onFrame: (frame) => {
        if (frame.data.type === 'start') {
          runId = frame.data.runId;
          const { port } = new URL(testServer.url);
          stalledSince = performance.now();
          stalledSocket = connect(Number(port), '127.0.0.1', () => {
            stalledSocket!.write(
              `GET /api/runs/${runId}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n`,
            );
            stalledSocket!.pause();
          });
          stalledSocket.on('data', (chunk: Buffer) => (stalledReceived += chunk.length));
        }
        if (frame.data.type === 'token') {
          const now = performance.now();
          if (lastTokenAt !== 0) gaps.push(now - lastTokenAt);
          lastTokenAt = now;
        }
      },
    });
    const normalResult = await normal;

    // The normal reader got the whole answer while the stalled one had read nothing.
    expect(tokenText(normalResult.frames)).toBe(bigTokens.join(''));
    expect(normalResult.frames.at(-1)?.data.type).toBe('done');
    expect(stalledReceived).toBe(0);
    const hub = testServer.app.hub;
    expect((await hub.info(runId))?.readers).toBe(1);

    // Keep the stalled reader silent for 10 s in total, then let it read: it gets everything, merged.
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, stalledSince + 10_000 - performance.now())),
    );
    const chunks: Buffer[] = [];
    const stalledDone = new Promise<void>((resolve) => stalledSocket!.on('end', resolve));
    stalledSocket!.on('data', (chunk: Buffer) => chunks.push(chunk));
    stalledSocket!.resume();
    await stalledDone;
    const raw = Buffer.concat(chunks).toString('utf8');
    const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
    const dataLines = body.split('\n').filter((line) => line.startsWith('data: {'));
    const events = dataLines.map((line) => JSON.parse(line.slice(6)) as { type: string; text?: string });
    expect(
      events
        .filter((event) => event.type === 'token')
        .map((event) => event.text)
        .join(''),
    ).toBe(bigTokens.join(''));
    // Fewer frames than tokens: the backlog was merged.
    expect(events.filter((event) => event.type === 'token').length).toBeLessThan(tokenCount);

    // The producer never waited: the normal reader's writes (frames more than 1 ms apart; the tokens of one write
    // arrive together) kept coming at about the write interval (STREAM_WRITE_INTERVAL_MS, 30 ms) through the 7.5 s of
    // tokens. A producer held by the stalled reader would have stopped them.
    const writeGaps = gaps.filter((gap) => gap > 1).sort((a, b) => a - b);
    expect(writeGaps.length).toBeGreaterThan(50);
    expect(writeGaps[Math.floor(writeGaps.length * 0.5)]!).toBeLessThan(100);
    // Memory: the run log is capped and shared, and no socket ever queued more than one write: the server stops
    // writing at the first `false` from write() and waits for `drain`. The largest write is a catch-up's last batch
    // (at most MAX_BATCH_ENTRIES entries, tokens merged) with the terminal `done`, which repeats the whole 5 MB answer
    // by contract; how many tokens share it depends on where the reader's cursor stood, so the bound is a whole batch.
    clearInterval(sampler);
    expect(hub.stats().bytes).toBeLessThanOrEqual(64 * 1024 * 1024);
    const doneFrameBytes = Buffer.byteLength(JSON.stringify(normalResult.frames.at(-1)?.data));
    const batchBytes = MAX_BATCH_ENTRIES * Buffer.byteLength(bigTokens[0]!);
    expect(maxQueuedBytes).toBeGreaterThan(0);
    expect(maxQueuedBytes).toBeLessThan(doneFrameBytes + batchBytes + 64 * 1024);
    stalledSocket!.destroy();
  }, 30_000);
});

describe('a WebSocket reader that stops reading', () => {
  it('is paused on backpressure and resumed when its socket drains, receiving everything merged', async () => {
    const tokenCount = 3000;
    const bigTokens = Array.from({ length: tokenCount }, (_, index) => `${index}:${'y'.repeat(3000)} `);
    server = await startTestServer(
      { RUN_MAX_BYTES: String(64 * 1024 * 1024), RUN_MAX_EVENTS: '10000' },
      { tokens: bigTokens, interTokenMs: 1 },
    );
    const client = await connectWs(server.url);
    // The client stops reading from its TCP socket (ws exposes it as `_socket`): kernel buffers fill up.
    const rawSocket = (client.socket as unknown as { _socket: Socket })._socket;
    client.send({ type: 'chat', message: 'flood me', requestId: 'w' });
    await client.waitFor((frame) => frame.type === 'event' && frame.event.type === 'token');
    rawSocket.pause();
    await server.upstream.waitForClose(1, 20_000);
    expect(server.upstream.requests[0]?.completed).toBe(true);
    rawSocket.resume();
    const terminal = await client.waitFor((frame) => isTerminalFrame(frame), 20_000);
    expect(terminal.type === 'event' && terminal.event.type).toBe('done');
    const tokens = client.frames.flatMap((frame) =>
      frame.type === 'event' && frame.event.type === 'token' ? [frame.event.text] : [],
    );
    expect(tokens.join('')).toBe(bigTokens.join(''));
    expect(tokens.length).toBeLessThan(tokenCount);
    client.socket.close();
  }, 40_000);
});

describe('a reader whose socket stays full', () => {
  it('is dropped after SSE_DRAIN_TIMEOUT_MS, so the disconnect policy applies instead of generating for nobody', async () => {
    const bigTokens = Array.from({ length: 6000 }, (_, index) => `${index}:${'z'.repeat(4000)} `);
    server = await startTestServer(
      { SSE_DRAIN_TIMEOUT_MS: '500', RUN_GRACE_MS: '300', RUN_MAX_BYTES: String(64 * 1024 * 1024) },
      { tokens: bigTokens, interTokenMs: 1 },
    );
    const { port } = new URL(server.url);
    const body = JSON.stringify({ message: 'I will never read this' });
    // A peer that vanished without closing: it sent its request and never reads a byte.
    const silent = connect(Number(port), '127.0.0.1', () => {
      silent.write(
        `POST /api/chat/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      silent.pause();
    });
    const upstream = await server.upstream.waitForClose(1, 20_000);
    expect(upstream.closedBy).toBe('client');
    expect(upstream.completed).toBe(false);
    expect(upstream.tokensSent).toBeLessThan(bigTokens.length);
    silent.destroy();
  }, 30_000);
});
