#!/usr/bin/env -S node --experimental-strip-types
// The `rivulet` command: `rivulet serve` starts the server (the default when no command is given).

import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createApp, createRootLogger, resolveLogFormat, type App } from '../app.ts';
import { WORKER_INDEX_VARIABLE } from '../cluster/messages.ts';
import { startPrimary } from '../cluster/primary.ts';
import { clusterRefusal } from '../cluster/requirements.ts';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { CONFIGURE_HINT } from '../providers/extractive.ts';
import { chatbotsCommand, keysCommand } from './admin-commands.ts';
import { benchCommand } from './bench/bench-command.ts';
import { checkCommand } from './check-command.ts';
import { documentsCommand, ingestCommand } from './ingest-command.ts';
import { migrateCommand } from './migrate-command.ts';
import { exportCommand, importCommand } from './transfer-commands.ts';
import { RivuletError } from '../core/errors.ts';
import { describeStoreLocation } from '../stores/open-stores.ts';
import { onShutdownSignals } from './shutdown-signals.ts';

const USAGE = `Usage: rivulet [serve | ingest | documents | chatbots | keys | migrate | export | import | check | bench]

Commands:
  serve [--workers N]       Start the HTTP, SSE and WebSocket server (default); --workers N (or auto): N
                            processes on the one port, which needs REDIS_URL (docs/deploy.md)
  ingest <paths or globs>   Add files to a document collection (rivulet ingest --help)
  documents [list|delete]   List or delete ingested documents
  chatbots [list|show|create|update|delete]   Manage chatbots (rivulet chatbots --help)
  keys [list|create|revoke]  Manage API keys for server-to-server use
  migrate [--check]         Apply database schema migrations (the server also does at start)
  export <file>             Write the whole installation to a file (rivulet export --help)
  import <file>             Read an export into a new installation (rivulet import --help)
  check [--no-stream]       Ask every configured provider a short question: TTFT, tokens/s, usage, errors
  bench --url <rivulet>     Load-test a running Rivulet over SSE and WebSocket (rivulet bench --help)

Configuration is read from the environment and from ./.env; see the README for every variable.`;

let loadedConfig: Config | undefined;

function loadEnvironment() {
  if (existsSync('.env')) process.loadEnvFile('.env');
  loadedConfig = loadConfig();
  return loadedConfig;
}

/**
 * A database that cannot be reached, or that a newer release migrated, in a line that says where and what to do:
 * the location never includes the URL's credentials.
 */
function storeFailure(error: unknown): string | undefined {
  if (!(error instanceof RivuletError) || loadedConfig === undefined) return undefined;
  const where = describeStoreLocation(loadedConfig);
  if (error.code === 'STORE_UNAVAILABLE') {
    return `Cannot reach the database (${where})${error.detail === undefined ? '' : `: ${error.detail}`}. Is it running, and is DATABASE_URL right?`;
  }
  if (error.code === 'DATABASE_TOO_NEW' || error.code === 'MIGRATION_FAILED')
    return `${where}: ${error.message}`;
  return undefined;
}

/**
 * Why the server could not listen, in one line that says what to do, for the errors a user can fix (a port in use,
 * a privileged port, an address not on this machine); undefined for anything else.
 */
function listenFailure(error: unknown, config: Pick<Config, 'host' | 'port'>): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  const where = `${config.host}:${config.port}`;
  switch (code) {
    case 'EADDRINUSE':
      return `Cannot listen on ${where}: the port is already in use (EADDRINUSE). Stop whatever listens there (is Rivulet already running?) or set PORT to a free port.`;
    case 'EACCES':
      return `Cannot listen on ${where}: not allowed (EACCES). Ports below 1024 need privileges: use a port above 1024, behind a reverse proxy if need be.`;
    case 'EADDRNOTAVAIL':
      return `Cannot listen on ${where}: HOST=${config.host} is not an address of this machine (EADDRNOTAVAIL). Use 127.0.0.1, 0.0.0.0 or one of its addresses.`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `Cannot listen on ${where}: HOST=${config.host} does not resolve (${code}). Use an IP address such as 127.0.0.1.`;
    default:
      return undefined;
  }
}

/** What a person at a terminal needs once the server is up: where it is, what answers, how to stop it. */
function banner(app: App, url: string): string {
  const answers =
    app.model === undefined
      ? `no language model: answers quote the best-matching passages.\n  ${CONFIGURE_HINT}`
      : `${app.model.provider} ${app.model.model}`;
  return `\n  Rivulet ready at ${url}\n\n  Answers: ${answers}\n  Stop: Ctrl-C (running answers get up to ${app.config.shutdownGraceMs} ms to finish)\n\n`;
}

/** `rivulet serve [--workers N]`: the flag is WORKERS for this run (validated with the rest of the configuration). */
function serveOptions(args: string[]): void {
  const { values } = parseArgs({ args, options: { workers: { type: 'string' } }, strict: true });
  if (values.workers !== undefined) process.env.WORKERS = values.workers;
}

async function serve(args: string[]): Promise<void> {
  serveOptions(args);
  const config = loadEnvironment();
  if (cluster.isWorker) {
    await serveOne(config, Number(process.env[WORKER_INDEX_VARIABLE] ?? 0));
    return;
  }
  if (config.workers > 1) {
    await servePrimary(config);
    return;
  }
  await serveOne(config, undefined);
}

/** The primary of `--workers N`: forks the workers, says where they listen, waits for them to stop. */
async function servePrimary(config: Config): Promise<void> {
  const refusal = clusterRefusal(config);
  if (refusal !== undefined) throw new ConfigError(refusal);
  const logger = await createRootLogger(config);
  const primary = await startPrimary(config, logger);
  onShutdownSignals({ first: (signal) => primary.stop(signal), again: (signal) => primary.cut(signal) });
  primary.ready.then(
    (url) =>
      logger.info({ url, workers: config.workers }, `Rivulet ready at ${url} (${config.workers} workers)`),
    (error: unknown) => logger.error({}, `${(error as Error).message}: stopping (its error is above)`),
  );
  const code = await primary.exited;
  logger.info({ code }, 'every worker has exited');
  process.exit(code);
}

/** One server process: alone, or worker `workerIndex` of `--workers N` (the primary then says it is ready). */
async function serveOne(config: Config, workerIndex: number | undefined): Promise<void> {
  const pretty = resolveLogFormat(config.logFormat, process.stdout.isTTY === true) === 'pretty';
  const app = await createApp(config, {
    logger: await createRootLogger(config),
    ...(workerIndex === undefined ? {} : { worker: { index: workerIndex } }),
  });
  let url: string;
  try {
    url = await app.listen();
  } catch (error) {
    const message = listenFailure(error, config);
    if (message === undefined) throw error;
    throw new ConfigError(message);
  }
  const fields = { url, provider: app.model?.provider ?? 'none', model: app.model?.model ?? 'none' };
  if (workerIndex !== undefined) {
    app.logger.info({ ...fields, worker: workerIndex }, `worker ${workerIndex} ready`);
  } else if (pretty && app.logger.isLevelEnabled('info')) {
    process.stdout.write(banner(app, url));
  } else {
    app.logger.info(fields, `Rivulet ready at ${url}`);
    if (app.model === undefined) {
      app.logger.info(
        {},
        `No language model is configured: answers quote the best-matching passages. ${CONFIGURE_HINT}`,
      );
    }
  }

  let cutting = false;
  onShutdownSignals({
    first(signal) {
      app.logger.info({ signal }, 'shutting down gracefully');
      app.shutdown().then(
        ({ finished, cut }) => {
          app.logger.info({ finished, cut }, 'shut down');
          process.exit(0);
        },
        (error: unknown) => {
          app.logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    },
    again(signal) {
      // A second signal while draining: stop waiting for running answers (once, however many more arrive).
      if (cutting) return;
      cutting = true;
      app.logger.warn({ signal }, 'second signal: cutting running answers now');
      app.close().then(
        () => process.exit(0),
        (error: unknown) => {
          app.logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    },
  });
}

async function main(argv: string[]): Promise<void> {
  const command = argv[0] ?? 'serve';
  switch (command) {
    case 'serve':
      await serve(argv.slice(1));
      return;
    case 'ingest':
      process.exitCode = await ingestCommand(argv.slice(1), loadEnvironment());
      return;
    case 'documents':
      process.exitCode = await documentsCommand(argv.slice(1), loadEnvironment());
      return;
    case 'chatbots':
      process.exitCode = await chatbotsCommand(argv.slice(1), loadEnvironment());
      return;
    case 'keys':
      process.exitCode = await keysCommand(argv.slice(1), loadEnvironment());
      return;
    case 'migrate':
      process.exitCode = await migrateCommand(argv.slice(1), loadEnvironment());
      return;
    case 'export':
      process.exitCode = await exportCommand(argv.slice(1), loadEnvironment());
      return;
    case 'import':
      process.exitCode = await importCommand(argv.slice(1), loadEnvironment());
      return;
    case 'check':
      process.exitCode = await checkCommand(argv.slice(1), loadEnvironment());
      return;
    case 'bench':
      process.exitCode = await benchCommand(argv.slice(1));
      return;
    case '--help':
    case '-h':
    case 'help':
      console.log(USAGE);
      return;
    default:
      console.error(`Unknown command "${command}".\n\n${USAGE}`);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const storeMessage = storeFailure(error);
  if (error instanceof ConfigError) {
    console.error(error.message);
  } else if (storeMessage !== undefined) {
    console.error(storeMessage);
  } else if (String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) {
    // A mistyped option: say which, without a stack trace.
    console.error(`${(error as Error).message}\n\nSee rivulet --help.`);
    process.exit(2);
  } else {
    console.error(error);
  }
  process.exit(1);
});
