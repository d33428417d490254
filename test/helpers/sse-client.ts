// A test client that reads Rivulet's SSE over real HTTP with a real SSE parser, and can hang up at any byte.

import { expect } from 'vitest';
import { request as httpRequest, type Agent, type IncomingMessage } from 'node:http';
import { createParser } from 'eventsource-parser';
import type { RunEvent } from '../../src/core/events.ts';

export interface SseFrameRead {
  id: string | undefined;
  event: string | undefined;
  data: RunEvent;
}

export interface SseReadResult {
  status: number;
  headers: IncomingMessage['headers'];
  frames: SseFrameRead[];
  /** True when the server ended the response (as opposed to us hanging up). */
  ended: boolean;
  retry: number | undefined;
}

export interface SseReadOptions {
  method?: 'GET' | 'POST';
  body?: unknown;
  headers?: Record<string, string>;
  /** Hang up once this many bytes of the body arrived (the frame in flight is lost, as in a real drop). */
  dropAfterBytes?: number;
  /** Called for each complete frame; return true to hang up right after it. */
  onFrame?: (frame: SseFrameRead) => boolean | void;
  /** The connection pool to use (one with maxSockets 1 pins the request to a connection already made). */
  agent?: Agent;
}

export function readSse(url: string, options: SseReadOptions = {}): Promise<SseReadResult> {
  return new Promise((resolve, reject) => {
    const frames: SseFrameRead[] = [];
    let retry: number | undefined;
    let received = 0;
    let hungUp = false;
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const request = httpRequest(url, {
      ...(options.agent === undefined ? {} : { agent: options.agent }),
      method: options.method ?? (body === undefined ? 'GET' : 'POST'),
      headers: {
        accept: 'text/event-stream',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
    });
    request.on('error', (error) => {
      if (!hungUp) reject(error);
    });
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      const finish = (ended: boolean): void => {
        resolve({ status, headers: response.headers, frames, ended, retry });
      };
      const hangUp = (): void => {
        if (hungUp) return;
        hungUp = true;
        response.destroy();
        request.destroy();
        finish(false);
      };
      if (!String(response.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          resolve({
            status,
            headers: response.headers,
            frames: text === '' ? [] : [{ id: undefined, event: 'body', data: JSON.parse(text) as RunEvent }],
            ended: true,
            retry,
          });
        });
        return;
      }
      const parser = createParser({
        onEvent(event) {
          if (hungUp) return;
          const frame = { id: event.id, event: event.event, data: JSON.parse(event.data) as RunEvent };
          frames.push(frame);
          if (options.onFrame?.(frame) === true) hangUp();
        },
        onRetry(value) {
          retry = value;
        },
      });
      const decoder = new TextDecoder();
      response.on('data', (chunk: Buffer) => {
        if (hungUp) return;
        let piece = chunk;
        if (options.dropAfterBytes !== undefined && received + chunk.length >= options.dropAfterBytes) {
          piece = chunk.subarray(0, Math.max(0, options.dropAfterBytes - received));
          parser.feed(decoder.decode(piece, { stream: true }));
          hangUp();
          return;
        }
        received += chunk.length;
        parser.feed(decoder.decode(piece, { stream: true }));
      });
      response.on('end', () => {
        if (!hungUp) finish(true);
      });
      response.on('error', () => {
        if (!hungUp) finish(false);
      });
    });
    request.end(body);
  });
}

export function tokenText(frames: readonly { data: RunEvent }[]): string {
  let text = '';
  for (const frame of frames) if (frame.data.type === 'token') text += frame.data.text;
  return text;
}

export function lastEvent(frames: readonly { data: RunEvent }[]): RunEvent | undefined {
  return frames.at(-1)?.data;
}

/** POST /api/chat/stream with these headers, read to the end. */
export function chatStream(
  baseUrl: string,
  headers: Record<string, string>,
  body: Record<string, unknown>,
): Promise<SseReadResult> {
  return readSse(`${baseUrl}/api/chat/stream`, { body, headers });
}

/** The stream answered 200 and ended with a complete answer. */
export function expectAnswered(result: SseReadResult): void {
  expect(result.status).toBe(200);
  expect(lastEvent(result.frames)).toMatchObject({ type: 'done', finishReason: 'stop' });
}
