// The security headers every answer carries (Helmet's set, with our content security policy): the exact names, in
// their order, with their values, as they go out on the wire, on the app page, a JSON route, a coded 404 and a stream.

import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const SECURITY_HEADERS: [string, string][] = [
  [
    'Content-Security-Policy',
    "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'none';" +
      "img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';" +
      "style-src 'self' 'unsafe-inline';upgrade-insecure-requests;connect-src 'self'",
  ],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-site'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'SAMEORIGIN'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];
const SECURITY_NAMES = new Set(SECURITY_HEADERS.map(([name]) => name.toLowerCase()));

/** The response's security headers as sent: names as written, in their order, with their values. */
function sentSecurityHeaders(
  server: TestServer,
  path: string,
  options: { method?: string; body?: string } = {},
): Promise<{ status: number; headers: [string, string][] }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(`${server.url}${path}`, {
      method: options.method ?? 'GET',
      headers:
        options.body === undefined ? {} : { 'content-type': 'application/json', accept: 'text/event-stream' },
    });
    outgoing.on('error', reject);
    outgoing.on('response', (response) => {
      const headers: [string, string][] = [];
      for (let index = 0; index < response.rawHeaders.length; index += 2) {
        const name = response.rawHeaders[index] ?? '';
        if (SECURITY_NAMES.has(name.toLowerCase()))
          headers.push([name, response.rawHeaders[index + 1] ?? '']);
      }
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers }));
    });
    outgoing.end(options.body);
  });
}

/** A streamed answer's headers are written by the stream (names as Fastify reports them: lower case). */
const LOWER_CASE = SECURITY_HEADERS.map(([name, value]): [string, string] => [name.toLowerCase(), value]);

describe('security headers', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('go out unchanged on the app page, a JSON route and a coded 404', async () => {
    for (const path of ['/', '/api/config', '/api/nope']) {
      expect(await sentSecurityHeaders(server, path)).toEqual({
        status: path === '/api/nope' ? 404 : 200,
        headers: SECURITY_HEADERS,
      });
    }
  });

  it('go out unchanged on a streamed answer and a refused one', async () => {
    const body = JSON.stringify({ message: 'What are the shipping costs?' });
    expect(await sentSecurityHeaders(server, '/api/chat/stream', { method: 'POST', body })).toEqual({
      status: 200,
      headers: LOWER_CASE,
    });
    expect(
      await sentSecurityHeaders(server, '/api/chat/stream', { method: 'POST', body: '{"message":' }),
    ).toEqual({ status: 400, headers: SECURITY_HEADERS });
  });

  it('the widget script alone may be loaded by any site (its route sets that header again)', async () => {
    const widget = await sentSecurityHeaders(server, '/widget.js');
    expect(widget.headers).toEqual(
      SECURITY_HEADERS.map(([name, value]) =>
        name === 'Cross-Origin-Resource-Policy'
          ? ['cross-origin-resource-policy', 'cross-origin']
          : [name, value],
      ),
    );
  });
});
