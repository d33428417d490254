// streamRunToResponse on a plain node:http server: what the response keeps of its head while the stream is held.

import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunProducer } from '../../core/run-hub.ts';
import { MemoryRunHub } from '../../stores/memory/memory-run-hub.ts';
import { sseFormat } from '../encoders/sse.ts';
import { StreamCompression } from './stream-compression.ts';
import { streamRunToResponse } from './stream-response.ts';

const HEADERS = {
  'x-run-id': 'run_test',
  'content-security-policy': `default-src 'none'; ${'x'.repeat(600)}`,
};

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A stream of one run to one client: the server's response, and the client's response once its head arrived. */
async function openStream(
  compression: 'off' | 'gzip',
): Promise<{ hub: MemoryRunHub; run: RunProducer; response: ServerResponse; client: IncomingMessage }> {
  const hub = new MemoryRunHub({
    limits: { maxEvents: 1000, maxBytes: 1_000_000, maxDurationMs: 60_000 },
    graceMs: 60_000,
    disconnectPolicy: 'finish',
    retentionMs: 60_000,
  });
  const run = hub.create({ ownerId: null });
  let served: ServerResponse | undefined;
  server = createServer((_request, response) => {
    served = response;
    void streamRunToResponse(response, {
      hub,
      runId: run.runId,
      afterSeq: -1,
      format: sseFormat,
      timing: { pingMs: 60_000, retryMs: 1000, drainTimeoutMs: 60_000 },
      headers: HEADERS,
      compression: { policy: new StreamCompression(compression), acceptEncoding: 'gzip' },
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const client = await new Promise<IncomingMessage>((resolve, reject) => {
    request({ port, host: '127.0.0.1', path: '/', method: 'POST', agent: false }, resolve)
      .on('error', reject)
      .end();
  });
  run.append({ type: 'token', text: 'Hello' });
  if (served === undefined) throw new Error('no response');
  return { hub, run, response: served, client };
}

/** What ends a run: its producer's terminal event. */
const end = (run: RunProducer): void => {
  run.append({ type: 'error', code: 'INTERNAL', message: 'ended', retryable: false });
};

const headOf = (response: ServerResponse): unknown => (response as unknown as { _header?: unknown })._header;

describe('streamRunToResponse: the head of a held stream', () => {
  it('lets the head text go once it is on the socket, still refusing a second head or a late header', async () => {
    const { hub, run, response, client } = await openStream('off');
    // The client has the head: every header as given.
    expect(client.statusCode).toBe(200);
    expect(client.headers['content-security-policy']).toBe(HEADERS['content-security-policy']);
    expect(client.headers['x-run-id']).toBe('run_test');
    expect(response.headersSent).toBe(true);
    const head = headOf(response);
    expect(typeof head).toBe('string');
    expect(String(head)).not.toContain('content-security-policy');
    expect(String(head).length).toBeLessThan(64);
    expect(() => response.setHeader('x-late', '1')).toThrow(
      expect.objectContaining({ code: 'ERR_HTTP_HEADERS_SENT' }),
    );
    expect(() => response.writeHead(500)).toThrow(expect.objectContaining({ code: 'ERR_HTTP_HEADERS_SENT' }));
    // The stream goes on to its end as before.
    const body: Buffer[] = [];
    client.on('data', (chunk: Buffer) => body.push(chunk));
    const ended = new Promise((resolve) => client.on('end', resolve));
    end(run);
    await ended;
    const text = Buffer.concat(body).toString('utf8');
    expect(text).toContain('"text":"Hello"');
    expect(text).toContain('event: error');
    hub.close();
  });

  it('sends the whole head of a compressed stream, which the compressor writes with its first output', async () => {
    const { hub, run, response, client } = await openStream('gzip');
    expect(client.headers['content-encoding']).toBe('gzip');
    expect(client.headers['content-security-policy']).toBe(HEADERS['content-security-policy']);
    expect(response.headersSent).toBe(true);
    client.resume();
    const ended = new Promise((resolve) => client.on('end', resolve));
    end(run);
    await ended;
    hub.close();
  });
});
