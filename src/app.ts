// Composition root: wires config, stores, hub, provider, chat service and the HTTP server together.

import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger as PinoLogger } from 'pino';
import { assertSafeToServe, type Config, type LogFormat } from './config.ts';
import { ChatService } from './core/chat-service.ts';
import { DEFAULT_CHATBOT_ID, newChatbot } from './core/chatbots.ts';
import type { Embedder } from './core/embedder.ts';
import type { Logger } from './core/logger.ts';
import type { LanguageModel } from './core/provider.ts';
import type { Passage, Retriever } from './core/retriever.ts';
import type { RoomBus } from './core/room-bus.ts';
import { RoomService } from './core/room-service.ts';
import type { RunHub } from './core/run-hub.ts';
import { resolveLanguageModel } from './providers/create-language-model.ts';
import { createEmbedder } from './providers/embeddings/embeddings.ts';
import { combineRunObservers, type RunObserver } from './core/observer.ts';
import { Metrics } from './observability/metrics.ts';
import { redactingLogger } from './observability/log-redaction.ts';
import { RollingStats } from './observability/rolling-stats.ts';
import { TracingObserver } from './observability/tracing.ts';
import { ExtractiveAnswerer } from './providers/extractive.ts';
import { providerFixHint } from './providers/fix-hint.ts';
import { ProviderIncidents } from './observability/provider-incidents.ts';
import { UsageEstimator } from './providers/shared/usage-estimator.ts';
import { expandPaths, readFiles } from './retrieval/file-sources.ts';
import { Ingestor } from './retrieval/ingest.ts';
import { ParserPool } from './retrieval/parser-pool.ts';
import { rerankWithLanguageModel } from './retrieval/llm-rerank.ts';
import { HybridRetriever } from './retrieval/retriever.ts';
import { MemoryRunHub, type MemoryRunHubOptions } from './stores/memory/memory-run-hub.ts';
import { RedisRunHub } from './stores/redis/redis-run-hub.ts';
import { MemoryRoomBus } from './stores/memory/memory-room-bus.ts';
import { RedisRoomBus } from './stores/redis/redis-room-bus.ts';
import { MemoryBudgetCounters } from './stores/memory/memory-budget-counters.ts';
import { MemoryStreamSlots } from './stores/memory/memory-stream-slots.ts';
import { openSharedLimits, type SharedLimits } from './stores/redis/redis-limits.ts';
import { TokenBudgets } from './core/token-budgets.ts';
import { openStores } from './stores/open-stores.ts';
import type { StoreOptions, Stores } from './stores/stores.ts';
import { clusterMetricsSource } from './cluster/worker-metrics.ts';
import { buildServer } from './transports/http/server.ts';
import { McpToolRegistry } from './tools/registry.ts';
import { Authenticator } from './transports/auth.ts';
import { RequestLimits } from './transports/request-limits.ts';
import { StreamCompression } from './transports/http/stream-compression.ts';

export { DEFAULT_CHATBOT_ID };

/**
 * The stores, the embedding model and the ingestor, wired the same way for the server and the CLI. Without the vector
 * extension there is no embedder: vectors could be neither stored nor searched, so making them would only cost.
 */
export async function openDocumentStack(
  config: Config,
  logger: Logger,
  storeOptions: StoreOptions = {},
): Promise<{ stores: Stores; embedder: Embedder | undefined; ingestor: Ingestor }> {
  const stores = await openStores(config, storeOptions);
  if (!stores.vectors.available) {
    logger.warn(
      { reason: stores.vectors.error },
      'vector search is unavailable: retrieval is lexical (BM25) only and the semantic cache serves exact questions only',
    );
  }
  const embedder = stores.vectors.available ? createEmbedder(config.embedding, logger) : undefined;
  const ingestor = new Ingestor({
    documents: stores.documents,
    embedder,
    maxBytes: config.documentMaxBytes,
    // Files are parsed in child processes with memory, time and size limits, off the event loop.
    parser: new ParserPool({ ...config.documentParsing, logger }),
    logger,
  });
  return { stores, embedder, ingestor };
}

/** Each run is reported to the rolling stats, and to metrics and traces when they are on. */
function runObserver(stats: RollingStats, metrics: Metrics | undefined, tracing: boolean): RunObserver {
  let observer: RunObserver = stats;
  if (metrics !== undefined) observer = combineRunObservers(observer, metrics);
  if (tracing) observer = combineRunObservers(observer, new TracingObserver());
  return observer;
}

/** How often the rolling stats sample the number of streaming runs. */
const ACTIVE_SAMPLE_MS = 5_000;

/** A fresh install answers from the default collection without any setup. True when the database was new. */
async function ensureDefaultChatbot(stores: Stores): Promise<boolean> {
  if ((await stores.chatbots.getChatbot(DEFAULT_CHATBOT_ID)) !== undefined) return false;
  await stores.chatbots.putChatbot(newChatbot(DEFAULT_CHATBOT_ID, 'Default'));
  return true;
}

/** How often an instance on a shared database looks for answers whose process died (see sweepInterrupted). */
const INTERRUPTED_SWEEP_MS = 30_000;

/** The bundled user guide (samples/rivulet-guide), so a new user can ask a question at once. Once, on a new database. */
export const SAMPLE_CORPUS_DIR = fileURLToPath(new URL('../samples/rivulet-guide/', import.meta.url));

async function ingestSampleCorpus(ingestor: Ingestor, logger: PinoLogger): Promise<void> {
  const { files } = await expandPaths([SAMPLE_CORPUS_DIR], SAMPLE_CORPUS_DIR);
  const summary = await ingestor.ingestAll(readFiles(files, SAMPLE_CORPUS_DIR), files.length, {
    collectionId: DEFAULT_CHATBOT_ID,
  });
  const failures = summary.results.flatMap((result) => (result.error === undefined ? [] : [result.error]));
  logger[failures.length === 0 ? 'info' : 'warn'](
    { documents: summary.added, chunks: summary.chunks, failed: failures },
    `fresh install: ingested ${summary.added} of ${files.length} sample documents (the Rivulet guide) into the default collection; SAMPLE_CORPUS=false skips this`,
  );
}

/** Vectors from another model are never compared with new ones: say so at start, with the fix. */
async function warnOnEmbeddingSpaceChange(
  stores: Stores,
  embedder: Embedder | undefined,
  logger: PinoLogger,
): Promise<void> {
  const stored = await stores.documents.embeddingSpace();
  if (embedder === undefined || stored === undefined) return;
  const current = `${embedder.provider}:${embedder.model}`;
  if (stored.model !== current) {
    logger.warn(
      { stored: stored.model, configured: current },
      'stored vectors come from another embedding model: vector search is off until `rivulet ingest --reembed`',
    );
  }
}

/** How long closing waits for connections that outlive their runs before cutting them. */
const CLOSE_GRACE_MS = 500;

export interface App {
  config: Config;
  hub: RunHub;
  stores: Stores;
  /** The configured provider chain; undefined when none is (answers then come from the extractive answerer). */
  model: LanguageModel | undefined;
  embedder: Embedder | undefined;
  ingestor: Ingestor;
  /** The search every answer runs over its chatbot's collection (bench/floor-relay.ts runs it without the rest). */
  retriever: Retriever;
  chat: ChatService;
  server: FastifyInstance;
  logger: PinoLogger;
  /** Listens on config.host/config.port and returns the base URL. */
  listen(): Promise<string>;
  /**
   * Graceful shutdown (SIGTERM): refuse new answers and report not ready, let running answers finish for up to
   * SHUTDOWN_GRACE_MS, cut the rest (stored as stopped with their partial text; readers get a retryable
   * SHUTTING_DOWN), tell WebSocket clients to reconnect elsewhere (close code 1012), then close. Resolves with how
   * many answers finished and how many were cut.
   */
  shutdown(): Promise<{ finished: number; cut: number }>;
  /** Closes at once: running answers are cut (see shutdown for the graceful path). */
  close(): Promise<void>;
}

/** LOG_FORMAT=auto: readable lines on a terminal, JSON lines anywhere else (a file, a pipe, journald, a shipper). */
export function resolveLogFormat(format: LogFormat, isTTY: boolean): 'json' | 'pretty' {
  if (format !== 'auto') return format;
  return isTTY ? 'pretty' : 'json';
}

/**
 * The process's logger on stdout: JSON lines, or readable ones through pino-pretty, which is imported only then so
 * the JSON path neither loads nor runs it. Both write synchronously, so the lines before an exit are not lost.
 * createApp wraps it in the credential masking either way (formatting happens after the masking).
 */
export async function createRootLogger(
  config: Pick<Config, 'logLevel' | 'logFormat'>,
  isTTY = process.stdout.isTTY === true,
): Promise<PinoLogger> {
  if (resolveLogFormat(config.logFormat, isTTY) === 'json') return pino({ level: config.logLevel });
  const { default: pretty } = await import('pino-pretty');
  return pino(
    { level: config.logLevel },
    pretty({ sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true }),
  );
}

/**
 * The run hub: in memory, or shared through Redis when REDIS_URL is set. With Redis, the instance that finds a dead
 * instance's answer ends it (RUN_OWNER_LOST) and stores it as failed with the text its owner last checkpointed.
 */
async function openRunHub(
  config: Config,
  stores: Stores,
  logger: PinoLogger,
  metrics: Metrics | undefined,
): Promise<RunHub> {
  const options: MemoryRunHubOptions = {
    observer: metrics,
    limits: {
      maxEvents: config.run.maxEvents,
      maxBytes: config.run.maxBytes,
      maxDurationMs: config.run.maxDurationMs,
    },
    graceMs: config.run.graceMs,
    disconnectPolicy: config.run.disconnectPolicy,
    retentionMs: config.run.retentionMs,
    maxRetainedBytes: config.run.retainedMaxBytes,
    readers: { perRun: config.run.maxReadersPerRun, total: config.run.maxReaders },
    writeIntervalMs: config.writeIntervalMs,
    onAbandoned: (runId) =>
      logger.info({ runId, policy: config.run.disconnectPolicy }, 'run abandoned: no reader'),
  };
  if (config.run.redisUrl === undefined) return new MemoryRunHub(options);
  return RedisRunHub.open({
    ...options,
    url: config.run.redisUrl,
    keyPrefix: config.run.redisKeyPrefix,
    logger,
    onOwnerLost: async (runId) => {
      const answer = await stores.conversations.findMessageByRun(runId);
      if (answer === undefined || answer.status !== 'streaming') return;
      await stores.conversations.replaceMessage({
        ...answer,
        status: 'failed',
        finishReason: 'error',
        errorCode: 'RUN_OWNER_LOST',
      });
    },
  });
}

/** Room notices and presence: in memory, or through Redis pub/sub for every instance when REDIS_URL is set. */
async function openRoomBus(config: Config, logger: PinoLogger): Promise<RoomBus> {
  if (config.run.redisUrl === undefined) return new MemoryRoomBus();
  const bus = new RedisRoomBus({ url: config.run.redisUrl, keyPrefix: config.run.redisKeyPrefix, logger });
  await bus
    .ready()
    .catch((error: unknown) =>
      logger.warn(
        { err: error },
        'rooms: Redis is not ready yet; room notices reach other instances once it is',
      ),
    );
  return bus;
}

export interface CreateAppOptions {
  logger?: PinoLogger;
  /**
   * Set in each worker of `rivulet serve --workers N` (src/cluster/): its index shows in /healthz, /metrics serves
   * every worker's figures through the primary, and the SQLite file is opened as shared by the other workers.
   */
  worker?: { index: number };
}

export async function createApp(config: Config, options: CreateAppOptions = {}): Promise<App> {
  assertSafeToServe(config);
  // Every line the app and Fastify write goes through the credential masking (a given logger too: tests, embedders).
  const logger = redactingLogger(options.logger ?? (await createRootLogger(config)));
  const metrics = config.metricsEnabled ? new Metrics() : undefined;
  const stats = new RollingStats();
  const incidents = new ProviderIncidents();
  const { stores, embedder, ingestor } = await openDocumentStack(
    config,
    logger,
    options.worker === undefined ? {} : { shared: true },
  );
  // No answer of this process runs yet: any still marked streaming was cut by a kill or crash of the last one (on a
  // shared store, PostgreSQL or the workers' SQLite file: of any process, once its last save is a minute old).
  const sweepInterrupted = async (): Promise<void> => {
    const interrupted = await stores.conversations.interruptStreamingMessages();
    if (interrupted > 0) {
      logger.warn(
        { answers: interrupted },
        'answers cut off when their server stopped without shutting down (killed, crashed) are marked interrupted, with their text so far',
      );
    }
  };
  await sweepInterrupted();
  // Processes sharing the database also sweep while they run: one that died and came back at once, or never came
  // back, leaves answers that no start would find otherwise.
  const sweeper = stores.shared
    ? setInterval(() => {
        sweepInterrupted().catch((error: unknown) =>
          logger.warn({ err: error }, 'looking for interrupted answers failed'),
        );
      }, INTERRUPTED_SWEEP_MS).unref()
    : undefined;
  const hub = await openRunHub(config, stores, logger, metrics);
  metrics?.watchHub(() => hub.stats());
  // Instances starting together on one database: the first creates the default chatbot and ingests the guide.
  await stores.exclusive('first-start', async () => {
    const freshInstall = await ensureDefaultChatbot(stores);
    if (freshInstall && config.sampleCorpus) await ingestSampleCorpus(ingestor, logger);
  });
  const model = await resolveLanguageModel(config.llm, logger, metrics);
  await warnOnEmbeddingSpaceChange(stores, embedder, logger);
  const usageEstimator = new UsageEstimator();
  await usageEstimator.load();
  const retriever = new HybridRetriever({
    documents: stores.documents,
    embedder,
    candidates: config.retrieval.candidates,
    rrfK: config.retrieval.rrfK,
    logger,
  });
  // With REDIS_URL, rate limits, stream slots and token budgets are counted in Redis for every instance.
  const sharedLimits: SharedLimits | undefined =
    config.limits.enabled && config.run.redisUrl !== undefined
      ? openSharedLimits({ url: config.run.redisUrl, keyPrefix: config.run.redisKeyPrefix, logger })
      : undefined;
  // MCP connections shared by every answer (one per configured server), opened on first use, closed with the app.
  const toolRegistry = new McpToolRegistry({ logger, defaults: config.tools });
  const chat = new ChatService({
    hub,
    conversations: stores.conversations,
    chatbots: stores.chatbots,
    model: model ?? new ExtractiveAnswerer(),
    ...(model !== undefined && config.extractiveFallback
      ? {
          fallback: {
            model: new ExtractiveAnswerer({ reason: 'model-unavailable' }),
            providerFailed: ({ runId, provider, error }) =>
              incidents.record({
                runId,
                provider,
                code: error.code,
                hint: providerFixHint(provider, error),
                at: Date.now(),
              }),
          },
        }
      : {}),
    assistant: model,
    retriever,
    answerCache: config.cache.enabled ? stores.answerCache : undefined,
    cacheMinSimilarity: config.cache.minSimilarity,
    ...(config.retrieval.rerank === 'llm' && model !== undefined
      ? {
          rerank: (question: string, passages: readonly Passage[], signal: AbortSignal) =>
            rerankWithLanguageModel(model, question, passages, signal, logger),
        }
      : {}),
    enhance: config.retrieval.enhance,
    topK: config.retrieval.topK,
    systemPrompt: config.systemPrompt,
    historyLimit: config.historyLimit,
    checkpointMs: config.run.checkpointMs,
    agent: (chatbot) => Promise.resolve(toolRegistry.agentSetup(chatbot)),
    estimateUsage: (messages, output) => usageEstimator.estimate(messages, output),
    defaultChatbotId: DEFAULT_CHATBOT_ID,
    limits: {
      maxMessageChars: config.maxMessageChars,
      maxConversationMessages: config.limits.maxConversationMessages,
      streamsPerPrincipal: config.limits.enabled ? config.limits.streamsPerPrincipal : 0,
      tokensPerDayPerPrincipal: config.limits.enabled ? config.limits.tokensPerDayPerPrincipal : 0,
      budgetAnswerMaxTokens: config.limits.budgetAnswerMaxTokens,
    },
    streamSlots: sharedLimits?.streamSlots ?? new MemoryStreamSlots(),
    budgets: config.limits.enabled
      ? new TokenBudgets({
          counters: sharedLimits?.budgetCounters ?? new MemoryBudgetCounters(),
          usage: stores.tokenUsage,
          logger,
        })
      : undefined,
    logger,
    observer: runObserver(stats, metrics, config.tracing),
  });
  const sampler = setInterval(() => stats.sampleActiveStreams(hub.stats().activeRuns), ACTIVE_SAMPLE_MS);
  sampler.unref();
  const roomBus = await openRoomBus(config, logger);
  const rooms = new RoomService({
    rooms: stores.rooms,
    conversations: stores.conversations,
    chatbots: stores.chatbots,
    chat,
    hub,
    bus: roomBus,
    defaultChatbotId: DEFAULT_CHATBOT_ID,
    logger,
  });
  const server = await buildServer(
    {
      config,
      hub,
      chat,
      rooms,
      stores,
      ingestor,
      metrics:
        metrics !== undefined && options.worker !== undefined
          ? clusterMetricsSource(metrics.registry)
          : metrics,
      ...(options.worker === undefined ? {} : { workerIndex: options.worker.index }),
      stats,
      incidents,
      authenticator: new Authenticator(config.auth, stores.apiKeys),
      requestLimits: new RequestLimits(config.limits, sharedLimits),
      streamCompression: new StreamCompression(config.streamCompression, metrics),
    },
    logger,
  );

  const app: App = {
    config,
    hub,
    stores,
    model,
    embedder,
    ingestor,
    retriever,
    chat,
    server,
    logger,
    async listen() {
      // A deep accept queue: a burst of a thousand new streams must wait, not be dropped with SYN retries.
      return server.listen({ host: config.host, port: config.port, backlog: 4096 });
    },
    async shutdown() {
      chat.beginDrain();
      const running = chat.inFlightCount;
      logger.info(
        { running, graceMs: config.shutdownGraceMs },
        'shutting down: no new answers; waiting for running ones',
      );
      let deadline: NodeJS.Timeout | undefined;
      const inTime = await Promise.race([
        chat.settled().then(() => true),
        new Promise<boolean>((resolve) => {
          deadline = setTimeout(() => resolve(false), config.shutdownGraceMs);
        }),
      ]);
      clearTimeout(deadline);
      const cut = inTime ? 0 : hub.stats().activeRuns;
      // Past the deadline the hub ends what still runs: readers get SHUTTING_DOWN, the answers are stored as stopped.
      if (!inTime) hub.close();
      await chat.settled();
      // Every answer is stored: WebSocket clients may reconnect to another instance.
      for (const client of server.websocketServer.clients) client.close(1012, 'server restarting');
      await app.close();
      return { finished: running - cut, cut };
    },
    async close() {
      clearInterval(sampler);
      clearInterval(sweeper);
      // Stop accepting first, then end open runs so their streams finish with a terminal event and the server can
      // close. Connections still open after that (a keep-alive connection that went idle after the close began, a
      // peer that never read) are cut after a short grace, so closing never hangs.
      chat.beginDrain();
      const serverClosed = server.close();
      hub.close();
      await chat.settled();
      const force = setTimeout(() => {
        server.server.closeAllConnections();
        // WebSockets left the HTTP server's books at the upgrade: a peer that never answers the close handshake
        // (a phone gone from the network) would otherwise hold the process for ws's own 30 s timeout.
        for (const client of server.websocketServer.clients) client.terminate();
      }, CLOSE_GRACE_MS);
      force.unref();
      await serverClosed;
      clearTimeout(force);
      await sharedLimits?.close();
      await roomBus.close();
      await model?.close?.();
      await embedder?.close?.();
      await ingestor.close();
      await toolRegistry.close();
      await stores.close();
    },
  };
  return app;
}
