// A plain HTTP client for tests: node:http, so any header (Origin, Host, a broken Content-Type) goes out exactly as
// given; the answer comes back with its status, headers, text and parsed JSON.

import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { expect } from 'vitest';
import type { TestServer } from './test-server.ts';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed JSON body, or {} when it is not JSON. */
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
}

export function call(
  server: Pick<TestServer, 'url'>,
  path: string,
  options: { method?: string; headers?: Record<string, string>; json?: unknown; body?: Buffer | string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const raw = options.json === undefined ? options.body : JSON.stringify(options.json);
    const payload = typeof raw === 'string' ? Buffer.from(raw) : raw;
    const request = httpRequest(`${server.url}${path}`, {
      method: options.method ?? (payload === undefined ? 'GET' : 'POST'),
      headers: {
        ...(payload === undefined || Buffer.isBuffer(options.body)
          ? {}
          : { 'content-type': 'application/json' }),
        ...(payload === undefined ? {} : { 'content-length': String(payload.length) }),
        ...options.headers,
      },
    });
    request.on('error', reject);
    request.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        let body: Reply['body'] = {};
        try {
          body = JSON.parse(text) as Reply['body'];
        } catch {
          // Not JSON (the metrics text, an HTML page): only status and text matter.
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, body });
      });
    });
    request.end(payload);
  });
}

/** Asserts a coded refusal: status and code (what a client branches on). */
export function expectRefusal(reply: Reply, status: number, code: string): void {
  expect({ status: reply.status, code: reply.body.error?.code }).toEqual({ status, code });
}
