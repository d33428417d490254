// Drops at random points and resumes: the client ends with exactly the upstream's text, nothing lost or repeated.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/core/events.ts';
import { mulberry32 } from '../fakes/openai-upstream.ts';
import { readSse, type SseFrameRead } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { connectWs, isTerminalFrame } from '../helpers/ws-client.ts';

// Deterministic drop points, so a failure can be replayed.
const DROPS = 200;
let server: TestServer;

beforeAll(async () => {
  // A long answer, fast enough that drops land both in the live tail and in the replayed backlog.
  server = await startTestServer({ RUN_GRACE_MS: '5000' }, { tokenCount: 3000, interTokenMs: 2, seed: 11 });
});
afterAll(async () => {
  await server.close();
});

describe('resume after drops', () => {
  it(`SSE: ${DROPS} drops at random byte offsets, resumed with Last-Event-ID, lose and repeat nothing`, async () => {
    server.upstream.reset();
    const random = mulberry32(42);
    const received: SseFrameRead[] = [];
    let runId: string | undefined;
    let lastId: string | undefined;
    let drops = 0;
    let terminal: RunEvent | undefined;

    while (terminal === undefined) {
      const dropAfterBytes = drops < DROPS ? 1 + Math.floor(random() * 2000) : undefined;
      const result =
        runId === undefined
          ? await readSse(`${server.url}/api/chat/stream`, {
              body: { message: 'long answer' },
              dropAfterBytes,
            })
          : await readSse(`${server.url}/api/runs/${runId}/events`, {
              headers: lastId === undefined ? {} : { 'last-event-id': lastId },
              dropAfterBytes,
            });
      if (runId === undefined) runId = result.headers['x-run-id'] as string;
      if (result.status === 204) break;
      expect(result.status).toBe(200);
      for (const frame of result.frames) {
        received.push(frame);
        lastId = frame.id;
        if (frame.data.type === 'done' || frame.data.type === 'error') terminal = frame.data;
      }
      if (!result.ended) drops += 1;
    }

    expect(drops).toBe(DROPS);
    expect(terminal).toMatchObject({ type: 'done', finishReason: 'stop' });
    // Seqs strictly increase: merged frames may skip numbers, but nothing is ever delivered twice.
    const seqs = received.map((frame) => frame.data.seq);
    seqs.slice(1).forEach((seq, index) => expect(seq).toBeGreaterThan(seqs[index]!));
    const text = received.map((frame) => (frame.data.type === 'token' ? frame.data.text : '')).join('');
    const upstream = server.upstream.requests[0]!;
    expect(upstream.completed).toBe(true);
    expect(text).toBe(upstream.textSent);
    expect(text).toBe(server.upstream.fullText());
    expect(server.upstream.requests).toHaveLength(1);
  });

  it(`WebSocket: ${DROPS} dropped sockets resumed with lastSeq lose and repeat nothing`, async () => {
    server.upstream.reset();
    // A reconnecting WebSocket costs more than an HTTP request, so this answer streams slower to outlast 200 drops.
    server.upstream.setScenario({ tokenCount: 3000, interTokenMs: 3, seed: 12 });
    const random = mulberry32(7);
    const received: RunEvent[] = [];
    let runId: string | undefined;
    let lastSeq = -1;
    let drops = 0;
    let finished = false;

    while (!finished) {
      const client = await connectWs(server.url);
      const budget = drops < DROPS ? 1 + Math.floor(random() * 6) : Number.POSITIVE_INFINITY;
      let seen = 0;
      const outcome = new Promise<'dropped' | 'finished'>((resolve) => {
        client.socket.on('message', () => {
          const frame = client.frames.at(-1)!;
          if (frame.type === 'accepted') runId = frame.runId;
          if (frame.type !== 'event') return;
          received.push(frame.event);
          lastSeq = frame.event.seq;
          if (isTerminalFrame(frame)) {
            resolve('finished');
            return;
          }
          seen += 1;
          if (seen >= budget) {
            // An abrupt drop, like a phone switching networks: no close handshake.
            client.socket.terminate();
            resolve('dropped');
          }
        });
      });
      if (runId === undefined) client.send({ type: 'chat', message: 'long answer over ws', requestId: 'r1' });
      else client.send({ type: 'resume', runId, lastSeq });
      const result = await outcome;
      if (result === 'dropped') drops += 1;
      else {
        finished = true;
        client.socket.close();
      }
    }

    expect(drops).toBe(DROPS);
    expect(received.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
    const seqs = received.map((event) => event.seq);
    seqs.slice(1).forEach((seq, index) => expect(seq).toBeGreaterThan(seqs[index]!));
    const text = received.map((event) => (event.type === 'token' ? event.text : '')).join('');
    expect(text).toBe(server.upstream.fullText());
    expect(server.upstream.requests).toHaveLength(1);
  });
});
