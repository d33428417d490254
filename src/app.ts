// Composition root: wires config, stores, hub, provider, chat service and the HTTP server together.

import type { FastifyInstance } from 'fastify';
import pino, { type Logger as PinoLogger } from 'pino';
import type { Config } from './config.ts';
import { ChatService } from './core/chat-service.ts';
import type { ConversationStore } from './core/conversation-store.ts';
import type { LanguageModel } from './core/provider.ts';
import type { RunHub } from './core/run-hub.ts';
import { resolveLanguageModel } from './providers/create-language-model.ts';
import { UsageEstimator } from './providers/usage-estimator.ts';
import { MemoryConversationStore } from './stores/memory/memory-conversation-store.ts';
import { MemoryRunHub } from './stores/memory/memory-run-hub.ts';
import { buildServer } from './transports/http/server.ts';

/** How long closing waits for connections that outlive their runs before cutting them. */
const CLOSE_GRACE_MS = 500;

export interface App {
  config: Config;
  hub: RunHub;
  conversations: ConversationStore;
  model: LanguageModel | undefined;
  chat: ChatService;
  server: FastifyInstance;
  logger: PinoLogger;
  /** Listens on config.host/config.port and returns the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export interface CreateAppOptions {
  logger?: PinoLogger;
}

export async function createApp(config: Config, options: CreateAppOptions = {}): Promise<App> {
  const logger = options.logger ?? pino({ level: config.logLevel });
  const hub = new MemoryRunHub({
    limits: {
      maxEvents: config.run.maxEvents,
      maxBytes: config.run.maxBytes,
      maxDurationMs: config.run.maxDurationMs,
    },
    graceMs: config.run.graceMs,
    disconnectPolicy: config.run.disconnectPolicy,
    retentionMs: config.run.retentionMs,
    maxRetainedBytes: config.run.retainedMaxBytes,
    onAbandoned: (runId) =>
      logger.info({ runId, policy: config.run.disconnectPolicy }, 'run abandoned: no reader'),
  });
  const conversations = new MemoryConversationStore();
  const model = await resolveLanguageModel(config.llm, logger);
  const usageEstimator = new UsageEstimator();
  await usageEstimator.load();
  const chat = new ChatService({
    hub,
    conversations,
    model,
    systemPrompt: config.systemPrompt,
    historyLimit: config.historyLimit,
    estimateUsage: (messages, output) => usageEstimator.estimate(messages, output),
    defaultChatbotId: 'default',
    logger,
  });
  const server = await buildServer({ config, hub, chat, principalOf: () => null }, logger);

  return {
    config,
    hub,
    conversations,
    model,
    chat,
    server,
    logger,
    async listen() {
      // A deep accept queue: a burst of a thousand new streams must wait, not be dropped with SYN retries.
      return server.listen({ host: config.host, port: config.port, backlog: 4096 });
    },
    async close() {
      // Stop accepting first, then end open runs so their streams finish with a terminal event and the server can
      // close. Connections still open after that (a keep-alive connection that went idle after the close began, a
      // peer that never read) are cut after a short grace, so closing never hangs. Graceful drain is issue 7's.
      const serverClosed = server.close();
      hub.close();
      await chat.settled();
      const force = setTimeout(() => server.server.closeAllConnections(), CLOSE_GRACE_MS);
      force.unref();
      await serverClosed;
      clearTimeout(force);
      await model?.close?.();
    },
  };
}
