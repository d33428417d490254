// A WebSocket test client that collects Rivulet's frames and can wait for one that matches.

import WebSocket from 'ws';
import type { ServerFrame } from '../../src/transports/encoders/ws-frame.ts';

export interface WsTestClient {
  socket: WebSocket;
  frames: ServerFrame[];
  send(message: unknown): void;
  waitFor(predicate: (frame: ServerFrame) => boolean, timeoutMs?: number): Promise<ServerFrame>;
  closed: Promise<{ code: number; reason: string }>;
}

export async function connectWs(
  baseUrl: string,
  options: WebSocket.ClientOptions = {},
): Promise<WsTestClient> {
  const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/api/ws`, options);
  const frames: ServerFrame[] = [];
  const waiters = new Set<() => void>();
  socket.on('message', (data: Buffer) => {
    frames.push(JSON.parse(data.toString('utf8')) as ServerFrame);
    for (const waiter of waiters) waiter();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString('utf8') });
      for (const waiter of waiters) waiter();
    });
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return {
    socket,
    frames,
    closed,
    send(message) {
      socket.send(typeof message === 'string' ? message : JSON.stringify(message));
    },
    waitFor(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        let index = 0;
        const check = (): void => {
          for (; index < frames.length; index += 1) {
            const frame = frames[index]!;
            if (predicate(frame)) {
              cleanup();
              resolve(frame);
              return;
            }
          }
          if (socket.readyState === WebSocket.CLOSED) {
            cleanup();
            reject(new Error('socket closed before the frame arrived'));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching frame within ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

export function isTerminalFrame(frame: ServerFrame, runId?: string): boolean {
  return (
    frame.type === 'event' &&
    (runId === undefined || frame.runId === runId) &&
    (frame.event.type === 'done' || frame.event.type === 'error')
  );
}
