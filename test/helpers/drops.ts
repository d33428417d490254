// Readers that drop their connection at random points and resume, as a phone switching networks does: over SSE
// (Last-Event-ID on /api/runs/:id/events) and over WebSocket (resume with lastSeq). Each reconnect may go to another
// base URL (another instance, or nginx picking one), so the same code proves resume on one instance and across many.

import { expect } from 'vitest';
import type { RunEvent } from '../../src/core/events.ts';
import { readSse, type SseFrameRead } from './sse-client.ts';
import { connectWs, isTerminalFrame } from './ws-client.ts';

export interface DroppingReadOptions {
  /** Where each connection goes: the first starts the answer, the others resume it. */
  baseUrl: (attempt: number) => string;
  /** The chat request's body (POST /api/chat/stream, or the WebSocket chat message). */
  body: Record<string, unknown>;
  /** How many times the reader drops before it reads to the end. */
  drops: number;
  /** Deterministic randomness, so a failure can be replayed. */
  random: () => number;
  headers?: Record<string, string>;
}

export interface DroppingReadResult {
  runId: string | undefined;
  events: RunEvent[];
  drops: number;
  /** Token text in order. */
  text: string;
}

/** Seqs strictly increase: merged frames may skip numbers, but nothing is ever delivered twice. */
export function expectNoRepeats(events: readonly RunEvent[]): void {
  const seqs = events.map((event) => event.seq);
  seqs.slice(1).forEach((seq, index) => expect(seq).toBeGreaterThan(seqs[index]!));
}

function tokenTextOf(events: readonly RunEvent[]): string {
  return events.map((event) => (event.type === 'token' ? event.text : '')).join('');
}

/** SSE: each connection is cut after a random number of body bytes (up to `maxBytes`), then resumed. */
export async function readSseWithDrops(
  options: DroppingReadOptions & { maxBytes?: number },
): Promise<DroppingReadResult> {
  const received: SseFrameRead[] = [];
  let runId: string | undefined;
  let lastId: string | undefined;
  let drops = 0;
  let terminal = false;
  for (let attempt = 0; !terminal; attempt += 1) {
    const dropAfterBytes =
      drops < options.drops ? 1 + Math.floor(options.random() * (options.maxBytes ?? 2000)) : undefined;
    const base = options.baseUrl(attempt);
    const result =
      runId === undefined
        ? await readSse(`${base}/api/chat/stream`, {
            body: options.body,
            headers: options.headers ?? {},
            dropAfterBytes,
          })
        : await readSse(`${base}/api/runs/${runId}/events`, {
            headers: { ...options.headers, ...(lastId === undefined ? {} : { 'last-event-id': lastId }) },
            dropAfterBytes,
          });
    if (runId === undefined) runId = result.headers['x-run-id'] as string | undefined;
    if (result.status === 204) break;
    expect(result.status).toBe(200);
    for (const frame of result.frames) {
      received.push(frame);
      lastId = frame.id;
      if (frame.data.type === 'done' || frame.data.type === 'error') terminal = true;
    }
    if (!result.ended) drops += 1;
  }
  const events = received.map((frame) => frame.data);
  return { runId, events, drops, text: tokenTextOf(events) };
}

/** WebSocket: each socket is terminated (no close handshake) after a random number of events, then resumed. */
export async function readWsWithDrops(
  options: DroppingReadOptions & { maxEvents?: number },
): Promise<DroppingReadResult> {
  const received: RunEvent[] = [];
  let runId: string | undefined;
  let lastSeq = -1;
  let drops = 0;
  for (let attempt = 0; ; attempt += 1) {
    const client = await connectWs(options.baseUrl(attempt), { headers: options.headers ?? {} });
    const budget =
      drops < options.drops
        ? 1 + Math.floor(options.random() * (options.maxEvents ?? 6))
        : Number.POSITIVE_INFINITY;
    let seen = 0;
    let gone = false;
    const outcome = new Promise<'dropped' | 'finished'>((resolve) => {
      client.socket.on('message', () => {
        // Frames parsed from the same read after the drop never reached this client.
        if (gone) return;
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
          gone = true;
          client.socket.terminate();
          resolve('dropped');
        }
      });
    });
    if (runId === undefined) client.send({ type: 'chat', requestId: `r${attempt}`, ...options.body });
    else client.send({ type: 'resume', runId, lastSeq });
    if ((await outcome) === 'dropped') {
      drops += 1;
      continue;
    }
    client.socket.close();
    return { runId, events: received, drops, text: tokenTextOf(received) };
  }
}
