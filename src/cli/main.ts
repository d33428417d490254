#!/usr/bin/env -S node --experimental-strip-types
// The `rivulet` command: `rivulet serve` starts the server (the default when no command is given).

import { existsSync } from 'node:fs';
import { createApp } from '../app.ts';
import { ConfigError, loadConfig } from '../config.ts';
import { chatbotsCommand, keysCommand } from './admin-commands.ts';
import { documentsCommand, ingestCommand } from './ingest-command.ts';

const USAGE = `Usage: rivulet [serve | ingest | documents | chatbots | keys]

Commands:
  serve                     Start the HTTP, SSE and WebSocket server (default)
  ingest <paths or globs>   Add files to a document collection (rivulet ingest --help)
  documents [list|delete]   List or delete ingested documents
  chatbots [list|show|create|update|delete]   Manage chatbots (rivulet chatbots --help)
  keys [list|create|revoke]  Manage API keys for server-to-server use

Configuration is read from the environment and from ./.env; see the README for every variable.`;

function loadEnvironment() {
  if (existsSync('.env')) process.loadEnvFile('.env');
  return loadConfig();
}

/** A repeat of the first shutdown signal within this long is ignored (see shutdown below). */
const REPEAT_SIGNAL_MS = 1000;

async function serve(): Promise<void> {
  const config = loadEnvironment();
  const app = await createApp(config);
  const url = await app.listen();
  app.logger.info(
    { url, provider: app.model?.provider ?? 'none', model: app.model?.model ?? 'none' },
    app.model === undefined
      ? 'Rivulet is listening; no language model is configured, so answers quote the best passages (set LLM_PROVIDER and LLM_MODEL for written answers)'
      : 'Rivulet is listening',
  );

  let firstSignal: { signal: string; at: number } | undefined;
  const shutdown = (signal: string): void => {
    if (firstSignal !== undefined) {
      // One Ctrl-C under `npm start` can arrive twice (from the terminal's process group and from npm): a repeat
      // of the same signal within a second is that echo, not a second request.
      if (signal === firstSignal.signal && performance.now() - firstSignal.at < REPEAT_SIGNAL_MS) return;
      // A second signal while draining: stop waiting for running answers.
      app.logger.warn({ signal }, 'second signal: cutting running answers now');
      app.close().then(
        () => process.exit(0),
        (error: unknown) => {
          app.logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
      return;
    }
    firstSignal = { signal, at: performance.now() };
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
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

async function main(argv: string[]): Promise<void> {
  const command = argv[0] ?? 'serve';
  switch (command) {
    case 'serve':
      await serve();
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
  if (error instanceof ConfigError) {
    console.error(error.message);
  } else if (String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) {
    // A mistyped option: say which, without a stack trace.
    console.error(`${(error as Error).message}\n\nSee rivulet --help.`);
    process.exit(2);
  } else {
    console.error(error);
  }
  process.exit(1);
});
