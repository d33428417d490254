// The reference relay: node:http in, http.request out, upstream bytes piped to the client untouched (or, with
// RAW_PIPE_COMPRESSION, through the same per-write-flushed compressor Rivulet uses, for the compression bench).

import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { STREAM_COMPRESSION_SETTINGS, type StreamCompressionSetting } from '../src/config/runs.ts';
import { StreamCompression } from '../src/transports/http/stream-compression.ts';
import type { ReadyMessage } from './messages.ts';

function relay(
  upstream: URL,
  agent: Agent,
  compression: StreamCompression,
  clientRequest: IncomingMessage,
  clientResponse: ServerResponse,
): void {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'text/event-stream',
  };
  const contentLength = clientRequest.headers['content-length'];
  if (contentLength !== undefined) headers['content-length'] = contentLength;

  const upstreamRequest = request(
    {
      host: upstream.hostname,
      port: upstream.port,
      path: `${upstream.pathname.replace(/\/+$/, '')}/chat/completions`,
      method: 'POST',
      headers,
      agent,
    },
    (upstreamResponse) => {
      const responseHeaders: Record<string, string> = {};
      const contentType = upstreamResponse.headers['content-type'];
      if (contentType !== undefined) responseHeaders['content-type'] = contentType;
      responseHeaders['cache-control'] = 'no-cache';
      const encoding = compression.choose(clientRequest.headers['accept-encoding']);
      if (encoding !== undefined) responseHeaders['content-encoding'] = encoding;
      clientResponse.writeHead(upstreamResponse.statusCode ?? 502, responseHeaders);
      // Each upstream chunk is one write, flushed through the compressor as it comes.
      upstreamResponse.pipe(
        encoding === undefined ? clientResponse : compression.compressInto(encoding, clientResponse),
      );
      upstreamResponse.on('error', () => clientResponse.destroy());
    },
  );
  upstreamRequest.on('error', () => {
    if (clientResponse.headersSent) {
      clientResponse.destroy();
      return;
    }
    clientResponse.writeHead(502, { 'content-type': 'text/plain' });
    clientResponse.end('upstream request failed');
  });
  // The client went away before the answer was whole: stop the upstream generation too.
  clientResponse.on('close', () => {
    if (!clientResponse.writableFinished) upstreamRequest.destroy();
  });
  clientRequest.pipe(upstreamRequest);
}

/** Child process entry: RAW_PIPE_UPSTREAM_URL is the fake upstream's base URL (…/v1), RAW_PIPE_PORT defaults to 0. */
function main(): void {
  const base = process.env.RAW_PIPE_UPSTREAM_URL;
  if (base === undefined)
    throw new Error('RAW_PIPE_UPSTREAM_URL is required (e.g. http://127.0.0.1:4010/v1)');
  const upstream = new URL(base);
  const setting = process.env.RAW_PIPE_COMPRESSION ?? 'off';
  if (!(STREAM_COMPRESSION_SETTINGS as readonly string[]).includes(setting)) {
    throw new Error(`RAW_PIPE_COMPRESSION is one of ${STREAM_COMPRESSION_SETTINGS.join(', ')}`);
  }
  const compression = new StreamCompression(setting as StreamCompressionSetting);
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const server = createServer({ noDelay: true }, (clientRequest, clientResponse) => {
    relay(upstream, agent, compression, clientRequest, clientResponse);
  });

  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    agent.destroy();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.once('disconnect', stop);

  server.listen({ host: '127.0.0.1', port: Number(process.env.RAW_PIPE_PORT ?? 0) }, () => {
    const { port } = server.address() as AddressInfo;
    const ready: ReadyMessage = { type: 'ready', port };
    if (process.send === undefined) console.log(`raw-pipe relay listening on http://127.0.0.1:${port}`);
    else process.send(ready);
  });
}

main();
