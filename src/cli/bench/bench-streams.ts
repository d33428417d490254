// One answer streamed from a running Rivulet, over SSE or WebSocket, timed at the client: what `rivulet bench` counts.

import { performance } from 'node:perf_hooks';
import { createParser } from 'eventsource-parser';
import WebSocket from 'ws';
import type { RunEvent } from '../../core/events.ts';
import type { ServerFrame } from '../../transports/encoders/ws-frame.ts';

/** What one stream measured. `error` is a Rivulet error code, `HTTP <status>`, or a network error's code. */
export interface StreamSample {
  ttftMs: number | undefined;
  gapsMs: number[];
  tokens: number;
  error: string | undefined;
}

export interface BenchTarget {
  /** The server's base URL, no trailing slash. */
  url: string;
  headers: Record<string, string>;
  body: { message: string; chatbotId?: string };
}

/** An SSE parser refuses a line longer than this (a sane answer's events are far smaller). */
const MAX_SSE_BUFFER = 1024 * 1024;

class Recorder {
  private readonly startedAt = performance.now();
  private lastAt = 0;
  readonly sample: StreamSample = { ttftMs: undefined, gapsMs: [], tokens: 0, error: undefined };

  token(): void {
    const now = performance.now();
    if (this.sample.tokens === 0) this.sample.ttftMs = now - this.startedAt;
    else this.sample.gapsMs.push(now - this.lastAt);
    this.lastAt = now;
    this.sample.tokens += 1;
  }

  fail(code: string): void {
    this.sample.error ??= code;
  }
}

function networkCode(error: unknown): string {
  const name = (error as Error | null)?.name;
  if (name === 'AbortError' || name === 'TimeoutError') return 'CUT_AT_DEADLINE';
  // fetch wraps the socket's error as its cause, an AggregateError when several addresses were tried.
  const candidates: unknown[] = [error];
  for (let index = 0; index < candidates.length && index < 8; index += 1) {
    const current = candidates[index] as { code?: unknown; cause?: unknown; errors?: unknown } | null;
    if (typeof current?.code === 'string') return current.code;
    if (current?.cause !== undefined) candidates.push(current.cause);
    if (Array.isArray(current?.errors)) candidates.push(...(current.errors as unknown[]));
  }
  return 'NETWORK_ERROR';
}

/** A coded refusal's code from its JSON body, or the status. */
async function refusalCode(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { error?: { code?: unknown } };
    if (typeof body.error?.code === 'string') return body.error.code;
  } catch {
    // Not Rivulet's JSON (a proxy's page): the status says enough.
  }
  return `HTTP ${response.status}`;
}

/** POST /api/chat/stream, parsed as a browser would (a real SSE parser over a streaming UTF-8 decoder). */
export async function streamOverSse(target: BenchTarget, signal: AbortSignal): Promise<StreamSample> {
  const recorder = new Recorder();
  try {
    const response = await fetch(`${target.url}/api/chat/stream`, {
      method: 'POST',
      headers: { ...target.headers, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify(target.body),
      signal,
    });
    if (response.status !== 200 || response.body === null) {
      recorder.fail(await refusalCode(response));
      return recorder.sample;
    }
    let terminal = false;
    const parser = createParser({
      maxBufferSize: MAX_SSE_BUFFER,
      onEvent(message) {
        if (message.event === 'token') recorder.token();
        else if (message.event === 'done') terminal = true;
        else if (message.event === 'error') {
          terminal = true;
          recorder.fail((JSON.parse(message.data) as { code?: string }).code ?? 'error event');
        }
      },
      onError: () => recorder.fail('BAD_SSE'),
    });
    const decoder = new TextDecoder();
    for await (const chunk of response.body) parser.feed(decoder.decode(chunk, { stream: true }));
    if (!terminal) recorder.fail('ENDED_WITHOUT_TERMINAL_EVENT');
  } catch (error) {
    recorder.fail(networkCode(error));
  }
  return recorder.sample;
}

/** A WebSocket a bench slot keeps open for its answers, one after another, as the web client does. */
export class BenchSocket {
  private readonly socket: WebSocket;
  private readonly opened: Promise<void>;
  private current: { requestId: string; runId?: string; recorder: Recorder; settle: () => void } | undefined;
  private closedCode: string | undefined;
  private nextRequest = 0;

  constructor(target: BenchTarget) {
    const url = new URL('/api/ws', target.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    this.socket = new WebSocket(url, { headers: target.headers });
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
    });
    // Rejections are read by `stream`; a socket nobody asked anything of must not crash the process.
    this.opened.catch(() => undefined);
    this.socket.on('message', (data: Buffer) =>
      this.onFrame(JSON.parse(data.toString('utf8')) as ServerFrame),
    );
    this.socket.on('error', () => undefined);
    this.socket.on('close', (code) => {
      this.closedCode = `WS_CLOSED_${code}`;
      this.current?.recorder.fail(this.closedCode);
      this.current?.settle();
    });
  }

  async stream(target: BenchTarget, signal: AbortSignal): Promise<StreamSample> {
    const recorder = new Recorder();
    try {
      await this.opened;
    } catch (error) {
      recorder.fail(networkCode(error));
      return recorder.sample;
    }
    if (this.closedCode !== undefined) {
      recorder.fail(this.closedCode);
      return recorder.sample;
    }
    this.nextRequest += 1;
    const requestId = `bench-${this.nextRequest}`;
    await new Promise<void>((resolve) => {
      const onAbort = (): void => {
        recorder.fail('CUT_AT_DEADLINE');
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.current = {
        requestId,
        recorder,
        settle: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.socket.send(JSON.stringify({ type: 'chat', requestId, ...target.body }));
    });
    this.current = undefined;
    return recorder.sample;
  }

  private onFrame(frame: ServerFrame): void {
    const current = this.current;
    if (current === undefined) return;
    switch (frame.type) {
      case 'accepted':
        if (frame.requestId === current.requestId) current.runId = frame.runId;
        return;
      case 'error':
        if (
          frame.requestId === current.requestId ||
          (frame.runId !== null && frame.runId === current.runId)
        ) {
          current.recorder.fail(frame.error.code);
          current.settle();
        }
        return;
      case 'event':
        if (frame.runId === current.runId) this.onEvent(frame.event, current);
        return;
      case 'stopped':
      case 'authenticated':
      case 'resumed':
      case 'room-joined':
      case 'room-members':
      case 'room-question':
      case 'room-left':
        return;
      default: {
        const unexpected: never = frame;
        void unexpected;
      }
    }
  }

  private onEvent(event: RunEvent, current: { recorder: Recorder; settle: () => void }): void {
    if (event.type === 'token') current.recorder.token();
    else if (event.type === 'error') {
      current.recorder.fail(event.code);
      current.settle();
    } else if (event.type === 'done') current.settle();
  }

  /** True once the server closed the socket (or it never opened). */
  get closed(): boolean {
    return this.closedCode !== undefined;
  }

  close(): void {
    this.socket.close();
  }
}
