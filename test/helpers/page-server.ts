// Serves a built page (a Vite dist directory) and forwards /api/ to a Rivulet server, so the page and the API share
// one origin as they would behind any reverse proxy. Streams pass through as they come; a browser that hangs up
// closes the forwarded request too (so the server sees the disconnect).

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, request as forward, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

export interface PageServer {
  url: string;
  close(): Promise<void>;
}

export async function startPageServer(root: string, apiUrl: string): Promise<PageServer> {
  const api = new URL(apiUrl);
  const server: Server = createServer((incoming, outgoing) => {
    const pathname = new URL(incoming.url ?? '/', 'http://page').pathname;
    if (pathname.startsWith('/api/')) {
      const upstream = forward(
        {
          host: api.hostname,
          port: api.port,
          method: incoming.method,
          path: incoming.url,
          // Host stays the page's: to Rivulet the page is then same-origin, as behind a reverse proxy.
          headers: incoming.headers,
        },
        (response) => {
          outgoing.writeHead(response.statusCode ?? 502, response.headers);
          response.pipe(outgoing);
        },
      );
      upstream.on('error', () => outgoing.destroy());
      outgoing.on('close', () => upstream.destroy());
      incoming.pipe(upstream);
      return;
    }
    const file = path.join(root, pathname === '/' ? 'index.html' : path.normalize(pathname));
    if (!file.startsWith(root)) {
      outgoing.writeHead(404).end();
      return;
    }
    void stat(file)
      .then(
        (info) => info.isFile(),
        () => false,
      )
      .then((found) => {
        if (!found) {
          outgoing.writeHead(404).end();
          return;
        }
        outgoing.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
        createReadStream(file).pipe(outgoing);
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
