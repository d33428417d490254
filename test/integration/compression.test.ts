// Compressed streams (STREAM_COMPRESSION) over real HTTP: every streaming route sends each token flushed through
// gzip or brotli as it is produced, the decoded stream is the plain stream byte for byte, resume and stop work
// unchanged, a client that hangs up frees its compressor, and the web app and widget are served compressed.

import { request as httpRequest } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStream, type OpenedStream } from '../helpers/compressed-stream.ts';
import { call } from '../helpers/http.ts';
import { NGINX_SKIP_REASON, shippedConfig, startNginx, type Nginx } from '../helpers/nginx.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const TOKENS = ['Rivers', ' carry', ' silt', ' to', ' the', ' sea', '.'];
/** The upstream sends the first token, then holds the rest: a client can only see it if it was flushed. */
const FIRST_TOKEN_THEN_STALL = { tokens: TOKENS, stallAfter: 1 };

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ STREAM_COMPRESSION: 'auto', RUN_GRACE_MS: '60000' });
});
afterAll(async () => {
  await server.close();
});

/** The streaming routes, each with a request that starts an answer and how its first token looks on the wire. */
const ROUTES = [
  {
    name: 'SSE (POST /api/chat/stream)',
    path: '/api/chat/stream',
    accept: 'text/event-stream',
    body: () => ({ message: 'Where does silt go?' }),
    firstToken: '"text":"Rivers"',
  },
  {
    name: 'NDJSON (POST /api/chat/stream)',
    path: '/api/chat/stream',
    accept: 'application/x-ndjson',
    body: () => ({ message: 'Where does silt go?' }),
    firstToken: '"text":"Rivers"',
  },
  {
    name: 'OpenAI chunks (POST /v1/chat/completions)',
    path: '/v1/chat/completions',
    accept: 'text/event-stream',
    body: () => ({
      model: 'default',
      stream: true,
      messages: [{ role: 'user', content: 'Where does silt go?' }],
    }),
    firstToken: '"content":"Rivers"',
  },
  {
    name: 'AI SDK UI stream (POST /api/chat/ui)',
    path: '/api/chat/ui',
    accept: 'text/event-stream',
    body: () => ({
      id: `chat${Math.random().toString(36).slice(2)}`,
      messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text: 'Where does silt go?' }] }],
    }),
    firstToken: '"delta":"Rivers"',
  },
] as const;

/** The text of the token frames of an SSE stream, in order. */
function tokenText(sse: string): string {
  return [...sse.matchAll(/event: token\ndata: ([^\n]*)\n/g)]
    .map((match) => (JSON.parse(match[1]!) as { text: string }).text)
    .join('');
}

/** The frames of an SSE stream other than tokens, whole (id, event and data lines). */
function otherFrames(sse: string): string[] {
  return sse.split('\n\n').filter((frame) => frame.startsWith('id: ') && !frame.includes('\nevent: token\n'));
}

async function stop(stream: OpenedStream): Promise<void> {
  const runId = String(stream.headers['x-run-id']);
  expect((await call(server, `/api/runs/${runId}/stop`, { method: 'POST' })).status).toBe(200);
}

/** Parsed `id:` and `event:` of each SSE frame in a text, in order. */
function sseIds(text: string): string[] {
  return [...text.matchAll(/^id: (.+)$/gm)].map((match) => match[1]!);
}

describe.each(['gzip', 'br'] as const)('a client accepting %s', (encoding) => {
  it.each(ROUTES)(
    '$name: gets the first token decodable while the upstream still holds the rest, then the stop',
    async (route) => {
      server.upstream.reset();
      server.upstream.setScenario(FIRST_TOKEN_THEN_STALL);
      const stream = await openStream(`${server.url}${route.path}`, {
        body: route.body(),
        headers: { accept: route.accept, 'accept-encoding': `${encoding}, identity;q=0.1` },
      });
      expect(stream.status).toBe(200);
      expect(stream.headers['content-encoding']).toBe(encoding);
      expect(stream.headers.vary).toMatch(/accept-encoding/i);
      expect(stream.headers['cache-control']).toBe('no-cache, no-transform');

      const text = await stream.waitFor((sofar) => sofar.includes(route.firstToken));
      // Ordering, not timing: the upstream has sent one token and is holding the rest.
      const upstream = server.upstream.requests[0]!;
      expect(upstream.tokensSent).toBe(1);
      expect(upstream.completed).toBe(false);
      expect(text).not.toContain('carry');

      await stop(stream);
      const whole = await stream.ended;
      expect(whole.startsWith(text)).toBe(true);
      expect(whole).not.toContain('carry');
      expect((await server.upstream.waitForClose(1)).closedBy).toBe('client');
      // Token frames are mostly repeated field names: compression must pay for itself on the wire.
      expect(stream.wireBytes).toBeLessThan(Buffer.byteLength(whole));
    },
  );
});

describe('decoded streams', () => {
  it('gzip and br streams decode to the plain stream byte for byte: same events, same ids', async () => {
    server.upstream.reset();
    server.upstream.setScenario({ tokenCount: 60, interTokenMs: 1, seed: 5 });
    const live = await openStream(`${server.url}/api/chat/stream`, {
      body: { message: 'Tell me about deltas.' },
      headers: { accept: 'text/event-stream', 'accept-encoding': 'gzip' },
    });
    expect(live.headers['content-encoding']).toBe('gzip');
    const liveText = await live.ended;
    const runId = String(live.headers['x-run-id']);
    expect(liveText).toContain('event: done');

    // The finished run replayed from the start, plain and compressed: the same bytes once decoded.
    const replay = async (acceptEncoding: string | undefined): Promise<OpenedStream> =>
      openStream(`${server.url}/api/runs/${runId}/events`, {
        headers: acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding },
      });
    const plain = await replay(undefined);
    expect(plain.headers['content-encoding']).toBeUndefined();
    const plainText = await plain.ended;
    for (const encoding of ['gzip', 'br']) {
      const compressed = await replay(encoding);
      expect(compressed.headers['content-encoding']).toBe(encoding);
      expect(await compressed.ended).toBe(plainText);
    }
    // The live stream: every other frame byte for byte, and the same text (a replay merges consecutive tokens).
    expect(otherFrames(liveText)).toEqual(otherFrames(plainText));
    expect(otherFrames(liveText).length).toBeGreaterThan(3);
    expect(tokenText(liveText)).toBe(server.upstream.fullText());
    expect(tokenText(plainText)).toBe(server.upstream.fullText());
    expect(sseIds(liveText).at(-1)).toBe(sseIds(plainText).at(-1));
  });

  it('a client without Accept-Encoding, or accepting only identity or deflate, gets identity (Vary still set)', async () => {
    server.upstream.reset();
    server.upstream.setScenario({ tokenCount: 5 });
    const variants: Record<string, string>[] = [
      {},
      { 'accept-encoding': 'identity' },
      { 'accept-encoding': 'deflate' },
    ];
    for (const headers of variants) {
      const stream = await openStream(`${server.url}/api/chat/stream`, {
        body: { message: 'plain please' },
        headers: { accept: 'text/event-stream', ...headers },
      });
      expect(stream.headers['content-encoding']).toBeUndefined();
      expect(stream.headers.vary).toMatch(/accept-encoding/i);
      expect(await stream.ended).toContain('event: done');
    }
  });

  it('resumes a compressed stream with Last-Event-ID: nothing lost or repeated', async () => {
    server.upstream.reset();
    server.upstream.setScenario({ tokenCount: 80, interTokenMs: 2, seed: 8 });
    const first = await openStream(`${server.url}/api/chat/stream`, {
      body: { message: 'A long one.' },
      headers: { accept: 'text/event-stream', 'accept-encoding': 'br' },
    });
    expect(first.headers['content-encoding']).toBe('br');
    // Hang up after five complete token frames.
    const seen = await first.waitFor(
      (text) => (text.match(/event: token\ndata: [^\n]*\n\n/g) ?? []).length >= 5,
    );
    first.hangUp();
    const frames = seen.slice(0, seen.lastIndexOf('\n\n') + 2);
    const lastId = sseIds(frames).at(-1)!;
    const runId = String(first.headers['x-run-id']);

    const rest = await openStream(`${server.url}/api/runs/${runId}/events`, {
      headers: { 'last-event-id': lastId, 'accept-encoding': 'gzip' },
    });
    expect(rest.headers['content-encoding']).toBe('gzip');
    const restText = await rest.ended;
    const ids = [...sseIds(frames), ...sseIds(restText)];
    expect(new Set(ids).size).toBe(ids.length);
    expect(tokenText(`${frames}${restText}`)).toBe(server.upstream.fullText());
  });
});

describe('a compressed stream the client leaves', () => {
  let shortGrace: TestServer;
  beforeAll(async () => {
    shortGrace = await startTestServer(
      { STREAM_COMPRESSION: 'br', RUN_GRACE_MS: '300' },
      FIRST_TOKEN_THEN_STALL,
    );
  });
  afterAll(async () => {
    await shortGrace.close();
  });

  it('frees its compressor at once, and the run ends by the grace rules (upstream closed)', async () => {
    const stream = await openStream(`${shortGrace.url}/api/chat/stream`, {
      body: { message: 'then I leave' },
      headers: { accept: 'text/event-stream', 'accept-encoding': 'br' },
    });
    await stream.waitFor((text) => text.includes('"text":"Rivers"'));
    expect(await compressorsOpen(shortGrace)).toBe(1);
    stream.hangUp();
    await expect.poll(() => compressorsOpen(shortGrace)).toBe(0);
    // Disconnect is not stop: the run outlives the connection until the grace expires, then its upstream closes.
    const upstream = await shortGrace.upstream.waitForClose(1, 10_000);
    expect(upstream.closedBy).toBe('client');
    expect(upstream.completed).toBe(false);
    const metrics = (await call(shortGrace, '/metrics')).text;
    expect(metrics).toMatch(/rivulet_grace_aborts_total 1/);
    expect(
      Number(/rivulet_stream_compression_output_bytes_total\{encoding="br"\} (\d+)/.exec(metrics)?.[1]),
    ).toBeGreaterThan(0);
  });
});

async function compressorsOpen(target: TestServer): Promise<number> {
  const metrics = (await call(target, '/metrics')).text;
  return Number(/rivulet_stream_compressors_open\{encoding="br"\} (\d+)/.exec(metrics)?.[1] ?? 0);
}

describe('STREAM_COMPRESSION=off (the default)', () => {
  let off: TestServer;
  beforeAll(async () => {
    off = await startTestServer({}, { tokenCount: 5 });
  });
  afterAll(async () => {
    await off.close();
  });

  it('streams identity to a client that accepts gzip and br, without Vary: Accept-Encoding', async () => {
    const stream = await openStream(`${off.url}/api/chat/stream`, {
      body: { message: 'plain' },
      headers: { accept: 'text/event-stream', 'accept-encoding': 'gzip, br' },
    });
    expect(stream.headers['content-encoding']).toBeUndefined();
    expect(String(stream.headers.vary ?? '')).not.toMatch(/accept-encoding/i);
    expect(await stream.ended).toContain('event: done');
  });
});

describe.skipIf(NGINX_SKIP_REASON !== undefined)('behind nginx with deploy/nginx/rivulet.conf', () => {
  let nginx: Nginx;
  beforeAll(async () => {
    // nginx's own gzip on for the stream types, as a site-wide config might have it: it must leave an already
    // compressed stream alone (no double compression) and buffer nothing.
    nginx = await startNginx(
      (port) =>
        `gzip on;\ngzip_types text/event-stream application/x-ndjson;\n${shippedConfig([server.url], port)}`,
    );
  });
  afterAll(async () => {
    await nginx.stop();
  });

  it.each(['gzip', 'br'] as const)(
    'a %s stream passes through: the first token decodes while the upstream holds the rest',
    async (encoding) => {
      server.upstream.reset();
      server.upstream.setScenario(FIRST_TOKEN_THEN_STALL);
      const stream = await openStream(`${nginx.url}/api/chat/stream`, {
        body: { message: 'through the proxy' },
        headers: { accept: 'text/event-stream', 'accept-encoding': encoding },
      });
      expect(stream.headers['content-encoding']).toBe(encoding);
      await stream.waitFor((text) => text.includes('"text":"Rivers"'));
      expect(server.upstream.requests[0]!.completed).toBe(false);
      await stop(stream);
      expect(await stream.ended).toContain('event: done');
    },
  );
});

/** GET with a raw body (no decoding by the client). */
function getRaw(
  url: string,
  headers: Record<string, string>,
): Promise<{ headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ headers: response.headers, body: Buffer.concat(chunks) }));
    })
      .on('error', reject)
      .end();
  });
}

describe('the web app and widget', () => {
  it("the widget and the app's script and stylesheet are served precompressed, the same bytes as identity", async () => {
    const page = (await getRaw(`${server.url}/`, {})).body.toString();
    const assets = [...page.matchAll(/(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map(
      (match) => match[1]!,
    );
    expect(assets).toHaveLength(2);
    for (const path of ['/widget.js', ...assets]) {
      const plain = await getRaw(`${server.url}${path}`, {});
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(plain.headers.vary).toMatch(/accept-encoding/i);
      const br = await getRaw(`${server.url}${path}`, { 'accept-encoding': 'gzip, deflate, br, zstd' });
      expect(br.headers['content-encoding']).toBe('br');
      expect(br.headers['content-type']).toBe(plain.headers['content-type']);
      expect(brotliDecompressSync(br.body).equals(plain.body)).toBe(true);
      expect(br.body.length).toBeLessThan(plain.body.length / 2);
      const gzip = await getRaw(`${server.url}${path}`, { 'accept-encoding': 'gzip' });
      expect(gzip.headers['content-encoding']).toBe('gzip');
      expect(gunzipSync(gzip.body).equals(plain.body)).toBe(true);
      for (const reply of [br, gzip]) {
        expect(reply.headers['cache-control']).toBe(plain.headers['cache-control']);
        expect(reply.headers['cross-origin-resource-policy']).toBe(
          plain.headers['cross-origin-resource-policy'],
        );
      }
    }
    expect((await getRaw(`${server.url}/widget.js`, { 'accept-encoding': 'br' })).headers).toMatchObject({
      'cross-origin-resource-policy': 'cross-origin',
    });
  });
});
