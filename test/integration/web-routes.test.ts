// The browser-facing routes over real HTTP: the app and widget files with their caching, GET /api/config, CORS for
// the widget on other sites, and the coded answer when the browser code was never built.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { putTestChatbot, startTestServer, type TestServer } from '../helpers/test-server.ts';

describe('web app, widget and config routes', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.close());

  it('serves the app at / without caching, and its hashed assets as immutable', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const html = await page.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${server.url}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toMatch(/immutable/);
  });

  it('serves widget.js as JavaScript any site may load', async () => {
    const widget = await fetch(`${server.url}/widget.js`);
    expect(widget.status).toBe(200);
    expect(widget.headers.get('content-type')).toMatch(/javascript/);
    expect(widget.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(await widget.text()).toContain('attachShadow');
  });

  it('unknown paths stay coded 404s, not the app', async () => {
    const response = await fetch(`${server.url}/api/nope`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    expect((await fetch(`${server.url}/../package.json`)).status).toBe(404);
  });

  it('GET /api/config tells the app whether to stream (and offers no starters without the bundled guide)', async () => {
    const config = (await (await fetch(`${server.url}/api/config`)).json()) as Record<string, unknown>;
    expect(config).toEqual({
      streaming: true,
      chatbotId: 'default',
      title: 'Rivulet',
      auth: 'open',
      starters: [],
    });
  });

  it('on an open install, admits pages from this machine only (a site a local user visits cannot drive the API)', async () => {
    const preflight = (origin: string) =>
      fetch(`${server.url}/api/chat/stream`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      });
    const local = await preflight('http://127.0.0.1:8080');
    expect(local.status).toBe(204);
    expect(local.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8080');
    expect(local.headers.get('access-control-allow-headers')).toMatch(/content-type/);
    expect((await preflight('https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
    const chat = await fetch(`${server.url}/api/chat`, {
      method: 'POST',
      headers: { origin: 'http://localhost:5173', 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'hello' }),
    });
    expect(chat.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(chat.headers.get('access-control-expose-headers')).toMatch(/x-run-id/);
  });

  it('on an open install, refuses requests addressed to another host name (DNS rebinding)', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const call = request(
        `${server.url}/api/conversations`,
        { headers: { host: 'evil.example' } },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      call.on('error', reject);
      call.end();
    });
    expect(status).toBe(403);
  });
});

describe('web routes with settings', () => {
  it('CORS_ORIGINS allows the listed origins only', async () => {
    const server = await startTestServer({ CORS_ORIGINS: 'https://shop.example, http://127.0.0.1:8080' });
    try {
      const allowed = await fetch(`${server.url}/api/config`, {
        headers: { origin: 'https://shop.example' },
      });
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://shop.example');
      const other = await fetch(`${server.url}/api/config`, { headers: { origin: 'https://evil.example' } });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await server.close();
    }
  });

  it('where auth is required, CORS_ORIGINS as a list also admits the origins a public chatbot allows', async () => {
    // (An open install never does: see origin-guard.test.ts.)
    const server = await startTestServer({
      CORS_ORIGINS: 'https://admin.example',
      AUTH_JWT_SECRET: 'rivulet-web-routes-secret-of-32-chars-or-more',
    });
    try {
      await putTestChatbot(server, 'shop', { allowedOrigins: ['https://shop.example'] });
      const preflight = (origin: string) =>
        fetch(`${server.url}/api/chat/stream`, {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'content-type,x-session-id',
          },
        });
      const shop = await preflight('https://shop.example');
      expect(shop.headers.get('access-control-allow-origin')).toBe('https://shop.example');
      expect(shop.headers.get('access-control-allow-headers')).toMatch(/x-session-id/);
      expect((await preflight('https://admin.example')).headers.get('access-control-allow-origin')).toBe(
        'https://admin.example',
      );
      expect((await preflight('https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await server.close();
    }
  });

  it('where auth is required, any origin may call (credentials are bearer tokens other sites cannot read)', async () => {
    const server = await startTestServer({ AUTH_MODE: 'required' });
    try {
      const response = await fetch(`${server.url}/api/config`, {
        headers: { origin: 'https://shop.example' },
      });
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
    } finally {
      await server.close();
    }
  });

  it('ENABLE_FRONTEND_STREAMING=false reaches the app', async () => {
    const server = await startTestServer({ ENABLE_FRONTEND_STREAMING: 'false' });
    try {
      const config = (await (await fetch(`${server.url}/api/config`)).json()) as { streaming: boolean };
      expect(config.streaming).toBe(false);
    } finally {
      await server.close();
    }
  });

  it('a checkout whose browser code was never built answers 503 WEB_APP_NOT_BUILT at / and /widget.js', async () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'rivulet-no-web-'));
    const server = await startTestServer({ WEB_DIST_DIR: empty });
    try {
      for (const route of ['/', '/widget.js']) {
        const response = await fetch(`${server.url}${route}`);
        expect(response.status).toBe(503);
        const body = (await response.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe('WEB_APP_NOT_BUILT');
        expect(body.error.message).toMatch(/npm run build:web/);
      }
      // The API does not depend on it.
      expect((await fetch(`${server.url}/api/config`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('refuses CORS_ORIGINS entries that are not origins, naming them', () => {
    expect(() => loadConfig({ CORS_ORIGINS: 'https://shop.example/path' })).toThrow(ConfigError);
    expect(() => loadConfig({ CORS_ORIGINS: 'shop.example' })).toThrow(/"shop.example" is not an origin/);
  });
});
