// Starts a real Rivulet server on a loopback port, wired to a fake OpenAI upstream, for integration tests.

import pino from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { newChatbot, type Chatbot, type ChatbotInput } from '../../src/core/chatbots.ts';
import { loadConfig } from '../../src/config.ts';
import { startFakeUpstream, type FakeScenario, type FakeUpstream } from '../fakes/openai-upstream.ts';
import { releaseStore, storeEnv } from './test-store.ts';

/** Which run hub test servers use: `redis` on the Vitest project of that name (vitest.config.ts), else memory. */
const TEST_HUB: 'memory' | 'redis' = process.env.RIVULET_TEST_HUB === 'redis' ? 'redis' : 'memory';

export interface TestServer {
  app: App;
  url: string;
  upstream: FakeUpstream;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** When given, every log line the server writes (at `logLevel`) is pushed here. */
  logs?: string[];
  /** The level lines are captured at when `logs` is given; 'info' by default. */
  logLevel?: pino.Level;
}

export async function startTestServer(
  env: Record<string, string> = {},
  scenario: FakeScenario = {},
  options: TestServerOptions = {},
): Promise<TestServer> {
  const upstream = await startFakeUpstream({ scenario });
  const dataDir = env.DATA_DIR ?? ':memory:';
  const base = {
    HOST: '127.0.0.1',
    PORT: '0',
    LLM_PROVIDER: 'openai-compatible',
    LLM_BASE_URL: upstream.url,
    LLM_MODEL: 'fake-model',
    DATA_DIR: dataDir,
    SAMPLE_CORPUS: 'false',
    // The test worker's event loop is often busy (other servers, module loading): commits wait only where a test
    // asks for it, so that what a test sees of a turn does not depend on the machine's load.
    SQLITE_COMMIT_DELAY_MS: '0',
  };
  // Whether this server embeds (and so needs vector search from its store).
  const vectors = loadConfig({ ...base, ...env }).embedding !== undefined;
  const config = loadConfig({
    ...base,
    // On the postgres project: DATABASE_URL of a fresh database (or the one standing for DATA_DIR).
    ...(env.DATABASE_URL === undefined ? await storeEnv(dataDir, { vectors }) : {}),
    // On the redis project: runs go through the Redis hub (REDIS_URL), every reader on the owner's path.
    ...(TEST_HUB === 'redis' && process.env.REDIS_URL !== undefined
      ? { REDIS_URL: process.env.REDIS_URL }
      : {}),
    ...env,
  });
  const { logs } = options;
  const logger =
    logs === undefined
      ? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })
      : pino({ level: options.logLevel ?? 'info' }, { write: (line: string) => void logs.push(line) });
  const app = await createApp(config, { logger });
  const url = await app.listen();
  return {
    app,
    url,
    upstream,
    async close() {
      await app.close();
      await upstream.close();
      await releaseStore(config.databaseUrl);
    },
  };
}

/**
 * Adds a chatbot (its own collection, no prompt or glossary) with the given settings; by default public for
 * anonymous visitors from `allowedOrigins`.
 */
export function putTestChatbot(
  server: TestServer,
  id: string,
  settings: Partial<ChatbotInput> = {},
): Promise<Chatbot> {
  return server.app.stores.chatbots.putChatbot({ ...newChatbot(id), visibility: 'public', ...settings });
}
