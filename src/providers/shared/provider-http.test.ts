import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { RivuletError } from '../../core/errors.ts';
import { callProvider, requestJson, type BodyReader, type ProviderRequest } from './provider-http.ts';

type Route = (request: IncomingMessage, response: ServerResponse) => void;

interface TestServer {
  url: string;
  /** Requests that reached the server. */
  requests: number;
  /** Resolves when a response's connection closes before the response ended. */
  cut: Promise<void>;
}

const servers: Server[] = [];
const agents: Agent[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.destroy()));
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

async function serve(route: Route): Promise<TestServer> {
  let onCut!: () => void;
  const state: TestServer = { url: '', requests: 0, cut: new Promise((resolve) => (onCut = resolve)) };
  const server = createServer((request, response) => {
    state.requests += 1;
    response.on('close', () => {
      if (!response.writableFinished) onCut();
    });
    request.resume();
    request.on('end', () => route(request, response));
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/call`;
  return state;
}

function call(url: string, signal: AbortSignal, dispatcher?: Agent): ProviderRequest {
  return { url, headers: {}, body: { question: 'q' }, signal, stallMs: 5_000, dispatcher };
}

/** Writes `size` bytes of `byte` in 64 KB writes, one per event-loop turn, while the connection is open. */
function writeBytes(response: ServerResponse, byte: string, size: number): void {
  let left = size;
  const next = (): void => {
    if (response.destroyed) return;
    if (left <= 0) {
      response.end();
      return;
    }
    const length = Math.min(left, 64 * 1024);
    left -= length;
    response.write(byte.repeat(length));
    setImmediate(next);
  };
  next();
}

describe('callProvider', () => {
  it('reads an error body up to 16 KB for the log, then closes the connection', async () => {
    const server = await serve((_request, response) => {
      response.writeHead(503, { 'retry-after': '7' });
      // An error body that does not end: only the bound ends the call.
      writeBytes(response, 'x', Number.POSITIVE_INFINITY);
    });
    const error = (await requestJson(call(server.url, new AbortController().signal)).catch(
      (caught: unknown) => caught,
    )) as RivuletError;
    expect(error).toBeInstanceOf(RivuletError);
    expect(error).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', retryAfterMs: 7_000 });
    expect(error.detail).toContain('upstream HTTP 503: xxx');
    await server.cut;
  });

  it('fails a JSON answer larger than 32 MB without reading it all, and closes the connection', async () => {
    const server = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      writeBytes(response, ' ', 64 * 1024 * 1024);
    });
    await expect(requestJson(call(server.url, new AbortController().signal))).rejects.toMatchObject({
      code: 'UPSTREAM_BAD_RESPONSE',
      detail: 'response body too large',
    });
    await server.cut;
  });

  it('rejects at once when aborted while queued for a connection, and never sends the call', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const server = await serve((_request, response) => {
      void released.then(() => response.end('{}'));
    });
    // One connection: the second call waits for the first to end.
    const dispatcher = new Agent({ connections: 1 });
    agents.push(dispatcher);
    const first = requestJson(call(server.url, new AbortController().signal, dispatcher));
    await expect.poll(() => server.requests).toBe(1);
    const stop = new AbortController();
    const second = requestJson(call(server.url, stop.signal, dispatcher));
    stop.abort(new Error('user stopped'));
    await expect(second).rejects.toEqual(new Error('user stopped'));
    release();
    await expect(first).resolves.toEqual({});
    // A third call on the same connection shows the queue has been worked through.
    await expect(requestJson(call(server.url, new AbortController().signal, dispatcher))).resolves.toEqual(
      {},
    );
    expect(server.requests).toBe(2);
  });

  it('resolves when the reader says the answer is complete, while the response stays open', async () => {
    const server = await serve((_request, response) => {
      response.writeHead(200);
      response.write('complete');
    });
    const chunks: string[] = [];
    const reader: BodyReader<void> = {
      data: (chunk) => {
        chunks.push(chunk.toString());
        return true;
      },
      end: () => {
        throw new Error('the body never ends');
      },
      broken: (error) => {
        throw error;
      },
    };
    await callProvider(call(server.url, new AbortController().signal), reader);
    expect(chunks).toEqual(['complete']);
  });
});
