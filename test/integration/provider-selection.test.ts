// Which provider answers: auto-detected Ollama, Anthropic and Ollama by configuration, and a mixed fallback chain.

import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeAnthropic, startFakeOllama, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { lastEvent, readSse, tokenText } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

let server: TestServer | undefined;
let other: FakeUpstream | undefined;
afterEach(async () => {
  await server?.close();
  await other?.close();
  server = undefined;
  other = undefined;
});

/** Environment that configures no provider at all (the test server's defaults point at its fake). */
const NOTHING_CONFIGURED = { LLM_PROVIDER: 'auto', LLM_BASE_URL: '', LLM_MODEL: '' };

const ask = (testServer: TestServer) =>
  readSse(`${testServer.url}/api/chat/stream`, { body: { message: 'who answers?' } });

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

describe('LLM_PROVIDER=auto with nothing configured', () => {
  it('uses a local Ollama when it answers, picking an installed chat model over an embedding model', async () => {
    other = await startFakeOllama({ scenario: { tokenCount: 12, seed: 3 } });
    server = await startTestServer({ ...NOTHING_CONFIGURED, OLLAMA_HOST: other.url });
    const result = await ask(server);
    expect(result.frames[0]?.data).toMatchObject({
      type: 'start',
      provider: 'ollama',
      model: 'llama3.2:latest',
    });
    expect(other.requests[0]?.url).toBe('/api/chat');
    expect(tokenText(result.frames)).toBe(other.fullText());
    expect(lastEvent(result.frames)).toMatchObject({ type: 'done', usage: { outputTokens: 12 } });
  });

  it('without Ollama, the extractive answerer answers and says no model is configured', async () => {
    server = await startTestServer({ ...NOTHING_CONFIGURED, OLLAMA_HOST: `127.0.0.1:${await closedPort()}` });
    expect(server.app.model).toBeUndefined();
    const result = await ask(server);
    expect(result.frames[0]?.data).toMatchObject({ type: 'start', provider: 'extractive' });
    expect(lastEvent(result.frames)).toMatchObject({ type: 'done', finishReason: 'stop' });
    expect(tokenText(result.frames)).toMatch(/^No language model is configured/);
  });

  it('an Ollama with only embedding models is not used', async () => {
    other = await startFakeOllama({
      ollamaModels: [
        { name: 'nomic-embed-text:latest', family: 'nomic-bert', parameterSize: '137M', size: 1 },
      ],
    });
    server = await startTestServer({ ...NOTHING_CONFIGURED, OLLAMA_HOST: other.url });
    expect(server.app.model).toBeUndefined();
  });
});

describe('configured providers', () => {
  it('LLM_PROVIDER=anthropic streams from the Messages API', async () => {
    other = await startFakeAnthropic({ scenario: { tokenCount: 10, seed: 4 }, requireApiKey: 'sk-ant' });
    server = await startTestServer({
      LLM_PROVIDER: 'anthropic',
      ANTHROPIC_API_KEY: 'sk-ant',
      LLM_BASE_URL: other.url,
      LLM_MODEL: 'claude-test',
      SYSTEM_PROMPT: 'Answer briefly.',
    });
    const result = await ask(server);
    expect(result.frames[0]?.data).toMatchObject({ provider: 'anthropic', model: 'claude-test' });
    expect(other.requests[0]?.body).toMatchObject({ model: 'claude-test' });
    // The operator's system prompt leads; the grounding instructions and sources follow it.
    expect((other.requests[0]?.body as { system: string }).system).toMatch(
      /^Answer briefly\.\n\nAnswer the user's question from the numbered sources/,
    );
    expect(tokenText(result.frames)).toBe(other.fullText());
  });

  it('a chain can fall back from an OpenAI-compatible server to Ollama', async () => {
    other = await startFakeOllama({ scenario: { tokenCount: 6, seed: 5 } });
    server = await startTestServer(
      { LLM_FALLBACK: `ollama:llama3.2@${other.url}`, LLM_RETRIES: '0' },
      { errorStatus: 503 },
    );
    const result = await ask(server);
    expect(result.frames.find((frame) => frame.data.type === 'failover')?.data).toMatchObject({
      from: 'openai-compatible:fake-model',
      to: 'ollama:llama3.2',
      reason: 'UPSTREAM_UNAVAILABLE',
    });
    expect(tokenText(result.frames)).toBe(other.fullText());
  });
});
