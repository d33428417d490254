// Secrets never reach the logs (issue 12, finding 10): an upstream's in-stream error and an unparseable chunk were
// logged whole, a provider key in them included (HTTP error bodies were already masked), and `?access_token=` was
// logged in full with each request even when AUTH_TOKEN_IN_URL=false. Real servers, real fake upstreams for each
// provider family (OpenAI-style chat completions, Anthropic, Ollama, embeddings), every log line captured at trace.

import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import {
  startFakeAnthropic,
  startFakeOllama,
  startFakeUpstream,
  type FakeScenario,
  type FakeUpstream,
} from '../fakes/fake-upstream.ts';
import { call } from '../helpers/http.ts';
import { signTestJwt } from '../helpers/jwt.ts';
import { readSse } from '../helpers/sse-client.ts';

/** What a provider might echo back: its key, the caller's bearer token, an AWS-style secret. */
const PROVIDER_KEY = 'sk-proj-LEAKEDa1b2c3d4e5f6g7h8i9j0KLMNOP';
const ANTHROPIC_KEY = 'sk-ant-api03-LEAKEDq1w2e3r4t5y6u7i8o9p0';
const BEARER = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsZWFrZWQifQ.LEAKEDsignature0123456789';
const OPAQUE = 'LEAKEDz9y8x7w6v5u4t3s2r1q0p9o8n7m6l5k4j3';
const SECRETS = [PROVIDER_KEY, ANTHROPIC_KEY, BEARER, OPAQUE, 'LEAKED'];
const ECHO = `Incorrect API key provided: ${PROVIDER_KEY} (Authorization: Bearer ${BEARER}; session ${OPAQUE}; x-api-key: ${ANTHROPIC_KEY})`;

interface Started {
  app: App;
  url: string;
  upstream: FakeUpstream;
  logs: string[];
  /** Closed after each test. */
  close(): Promise<void>;
}

const started: { app: App; upstreams: FakeUpstream[] }[] = [];
afterEach(async () => {
  for (const { app, upstreams } of started.splice(0)) {
    await app.close();
    for (const upstream of upstreams) await upstream.close();
  }
});

async function start(
  upstream: FakeUpstream,
  env: Record<string, string>,
  more: FakeUpstream[] = [],
): Promise<Started> {
  const logs: string[] = [];
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: ':memory:',
    SAMPLE_CORPUS: 'false',
    LLM_RETRIES: '1',
    LLM_RETRY_BASE_MS: '1',
    LLM_RETRY_MAX_MS: '1',
    ANSWER_CACHE: 'false',
    ...env,
  });
  const app = await createApp(config, {
    logger: pino({ level: 'trace' }, { write: (line: string) => void logs.push(line) }),
  });
  started.push({ app, upstreams: [upstream, ...more] });
  return { app, url: await app.listen(), upstream, logs, close: async () => {} };
}

/** The logs hold none of the secrets, and do show that the failure was logged (masked). */
function expectMasked(logs: readonly string[], expected: RegExp): void {
  const text = logs.join('\n');
  for (const secret of SECRETS) expect(text).not.toContain(secret);
  expect(text).toMatch(expected);
  expect(text).toContain('[redacted]');
}

async function askAndSettle(server: Started): Promise<void> {
  const result = await readSse(`${server.url}/api/chat/stream`, { body: { message: 'hello' } });
  expect(result.status).toBe(200);
  await server.app.chat.settled();
}

const sse = (...events: string[]): FakeScenario => ({
  replay: { contentType: 'text/event-stream', body: events.join('') },
});
const ndjson = (...lines: string[]): FakeScenario => ({
  replay: { contentType: 'application/x-ndjson', body: lines.join('') },
});

describe('upstream content in the logs', () => {
  const openAiChunk = (content: string) =>
    `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }] })}\n\n`;
  const openAi = (scenario: FakeScenario) => async () => {
    const upstream = await startFakeUpstream({ scenario });
    return start(upstream, { LLM_PROVIDER: 'openai-compatible', LLM_BASE_URL: upstream.url, LLM_MODEL: 'm' });
  };
  const anthropic = (scenario: FakeScenario) => async () => {
    const upstream = await startFakeAnthropic({ scenario });
    return start(upstream, {
      LLM_PROVIDER: 'anthropic',
      LLM_BASE_URL: upstream.url,
      ANTHROPIC_API_KEY: 'test-anthropic-key',
      LLM_MODEL: 'claude-test',
    });
  };
  const ollama = (scenario: FakeScenario) => async () => {
    const upstream = await startFakeOllama({ scenario });
    return start(upstream, { LLM_PROVIDER: 'ollama', OLLAMA_HOST: upstream.url, LLM_MODEL: 'llama3.2' });
  };

  const CASES: [string, () => Promise<Started>, RegExp][] = [
    [
      'OpenAI-style in-stream error, before any token (retried, then failed)',
      openAi(sse(`data: ${JSON.stringify({ error: { message: ECHO, type: 'server_error' } })}\n\n`)),
      /in-stream error/,
    ],
    [
      'OpenAI-style in-stream error after a token',
      openAi(sse(openAiChunk('Hi'), `data: ${JSON.stringify({ error: { message: ECHO, code: 500 } })}\n\n`)),
      /in-stream error/,
    ],
    [
      'OpenAI-style unparseable chunk (then a non-streaming retry of the same bytes)',
      openAi(sse(`data: {"choices": [${ECHO}\n\n`)),
      /unparseable (chunk|JSON body)/,
    ],
    [
      'Anthropic in-stream error',
      anthropic(
        sse(
          `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: ECHO } })}\n\n`,
        ),
      ),
      /in-stream error/,
    ],
    [
      'Anthropic unparseable event',
      anthropic(sse(`event: content_block_delta\ndata: {"delta": ${ECHO}\n\n`)),
      /unparseable/,
    ],
    [
      'Ollama in-stream error line',
      ollama(ndjson(`${JSON.stringify({ error: ECHO })}\n`)),
      /in-stream error/,
    ],
    ['Ollama unparseable line', ollama(ndjson(`{"message": ${ECHO}\n`)), /unparseable/],
  ];

  it.each(CASES)('%s is logged masked', async (_name, startServer, expected) => {
    const server = await startServer();
    await askAndSettle(server);
    expectMasked(server.logs, expected);
  });

  it('an embeddings answer that is not JSON is logged masked (the question falls back to BM25)', async () => {
    const chat = await startFakeUpstream({ scenario: { tokenCount: 2 } });
    const embeddings = await startFakeUpstream({
      scenario: { replay: { contentType: 'application/json', body: `{"data": [${ECHO}` } },
    });
    const server = await start(
      chat,
      {
        LLM_PROVIDER: 'openai-compatible',
        LLM_BASE_URL: chat.url,
        LLM_MODEL: 'm',
        EMBEDDING_PROVIDER: 'openai-compatible',
        EMBEDDING_BASE_URL: embeddings.url,
        EMBEDDING_MODEL: 'fake-embed',
      },
      [embeddings],
    );
    if (!server.app.stores.vectors.available) {
      console.warn('log-redaction.test.ts: sqlite-vec is unavailable, so no embedder runs: skipping');
      return;
    }
    await askAndSettle(server);
    expect(embeddings.requests.length).toBeGreaterThan(0);
    expectMasked(server.logs, /query embedding failed/);
  });

  it('the fallback chain logs the failed provider masked when it moves on', async () => {
    const first = await startFakeUpstream({
      scenario: sse(`data: ${JSON.stringify({ error: { message: ECHO } })}\n\n`),
    });
    const second = await startFakeUpstream({ scenario: { tokenCount: 2 } });
    const server = await start(
      first,
      {
        LLM_PROVIDER: 'openai-compatible',
        LLM_BASE_URL: first.url,
        LLM_MODEL: 'm',
        LLM_FALLBACK: `openai-compatible:m2@${second.url}`,
      },
      [second],
    );
    await askAndSettle(server);
    expect(second.requests.length).toBeGreaterThan(0);
    expectMasked(server.logs, /failing over/);
  });
});

describe('credentials in request URLs', () => {
  const SECRET = 'rivulet-log-secret-of-more-than-32-chars';

  for (const tokenInUrl of ['false', 'true']) {
    it(`?access_token= is masked in the request logs (AUTH_TOKEN_IN_URL=${tokenInUrl})`, async () => {
      const upstream = await startFakeUpstream({ scenario: { tokenCount: 2 } });
      const server = await start(upstream, {
        LLM_PROVIDER: 'openai-compatible',
        LLM_BASE_URL: upstream.url,
        LLM_MODEL: 'm',
        AUTH_JWT_SECRET: SECRET,
        AUTH_TOKEN_IN_URL: tokenInUrl,
        LIMITS: 'off',
      });
      const token = await signTestJwt(SECRET, 'user-in-url');
      const me = await call(server, `/api/me?access_token=${token}`);
      expect(me.status).toBe(tokenInUrl === 'true' ? 200 : 401);
      // Other names a credential goes by in a query string, a bad path, and the WebSocket upgrade.
      await call(
        server,
        `/api/conversations?limit=5&api_key=${OPAQUE}&key=${PROVIDER_KEY}&password=${OPAQUE}`,
      );
      await call(server, `/api/runs/%ff/events?access_token=${token}`);
      await call(server, `/api/nowhere?access_token=${token}`);
      const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}/api/ws?access_token=${token}`);
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.once('error', () => resolve());
        socket.once('open', () => socket.close());
      });

      const text = server.logs.join('\n');
      expect(text).toContain('/api/me?access_token=[redacted]');
      expect(text).toContain('limit=5&api_key=[redacted]&key=[redacted]&password=[redacted]');
      expect(text).toContain('/api/ws?access_token=[redacted]');
      for (const secret of [token, ...SECRETS]) expect(text).not.toContain(secret);
      // The signature alone must not be there either (it is what makes the token usable).
      expect(text).not.toContain(token.split('.')[2]);
    });
  }
});
