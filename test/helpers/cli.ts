// Runs the real `rivulet` CLI in a child process, as a user runs it, and opens the stores it wrote.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openStores } from '../../src/stores/open-stores.ts';
import type { Stores } from '../../src/stores/stores.ts';
import { storeEnv } from './test-store.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** Bound on one CLI run; a hung child is killed and fails the test. */
const CHILD_TIMEOUT_MS = 30_000;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `rivulet <args>` like package.json "start" does (node --experimental-strip-types src/cli/main.ts). */
/**
 * The CLI's environment, built from scratch: no LLM_*, OPENAI_*, AZURE_*, ANTHROPIC_*, OLLAMA_* or EMBEDDING_* from
 * the outer shell.
 */
export function cliEnv(cwd: string, dataDir: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    HOME: cwd,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    LLM_PROVIDER: 'none',
    EMBEDDING_PROVIDER: 'none',
  };
}

export async function rivulet(
  args: string[],
  cwd: string,
  dataDir: string,
  extraEnv: Record<string, string> = {},
): Promise<CliResult> {
  const env = { ...cliEnv(cwd, dataDir), ...(await storeEnv(dataDir)), ...extraEnv };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--experimental-strip-types', CLI, ...args], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: CHILD_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (data: string) => (stdout += data));
    child.stderr.setEncoding('utf8').on('data', (data: string) => (stderr += data));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== null) {
        reject(new Error(`rivulet ${args.join(' ')} was killed (${signal}); stderr:\n${stderr}`));
      } else resolve({ code, stdout, stderr });
    });
  });
}

export async function withStores<T>(dataDir: string, use: (stores: Stores) => Promise<T>): Promise<T> {
  const stores = await openStores({ dataDir, databaseUrl: (await storeEnv(dataDir)).DATABASE_URL });
  try {
    return await use(stores);
  } finally {
    await stores.close();
  }
}
