// Starting and stopping the server as users and process managers do (issue 19): SIGTERM or SIGINT sent to the
// `npm start` process reaches the server, which drains and exits 0 (npm's shell used to die alone and leave the
// server serving, orphaned); a port already taken is one clear line and exit code 1, not a stack trace; logs are
// JSON lines unless LOG_FORMAT=pretty (or a terminal), which shows a "ready at" banner and still masks credentials.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { resolveLogFormat } from '../../src/app.ts';
import { freePort } from '../helpers/ports.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'src/cli/main.ts');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const TIMEOUT_MS = 30_000;

const dataDir = mkdtempSync(join(tmpdir(), 'rivulet-start-stop-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** Children a failed test left running; killed after each test. */
const running = new Set<ChildProcess>();
const strays = new Set<number>();
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  strays.clear();
});

function serverEnv(port: number, more: Record<string, string> = {}): NodeJS.ProcessEnv {
  // Built from scratch: no LLM_* or EMBEDDING_* from the outer shell.
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? dataDir,
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: mkdtempSync(join(dataDir, 'data-')),
    SAMPLE_CORPUS: 'false',
    LLM_PROVIDER: 'none',
    EMBEDDING_PROVIDER: 'none',
    SHUTDOWN_GRACE_MS: '2000',
    ...more,
  };
}

interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(command: string, args: string[], env: NodeJS.ProcessEnv): Started {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (data: string) => (stdout += data));
  child.stderr?.setEncoding('utf8').on('data', (data: string) => (stderr += data));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + TIMEOUT_MS;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function ready(url: string, started: Started): Promise<void> {
  await until('the server to be ready', async () => {
    if (started.child.exitCode !== null) {
      throw new Error(`exited early (${started.child.exitCode}):\n${started.stdout()}\n${started.stderr()}`);
    }
    try {
      return (await fetch(`${url}/readyz`)).status === 200 ? true : undefined;
    } catch {
      return undefined;
    }
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('npm start under a process manager', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s to the npm process drains the server and both exit 0',
    async (signal) => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      // --ignore-scripts skips prestart (building the web app): only the start script itself is under test.
      const npm = start(
        NPM,
        ['start', '--ignore-scripts', '--silent'],
        serverEnv(port, { LOG_FORMAT: 'json' }),
      );
      await ready(url, npm);
      // /readyz can answer before the line logged after listening has come through the pipe.
      const readyLine = await until('the ready line', () => {
        const out = npm.stdout();
        // Whole lines only: the next one may be arriving.
        return jsonLines(out.slice(0, out.lastIndexOf('\n') + 1)).find((line) =>
          String(line.msg).startsWith('Rivulet ready at'),
        );
      });
      expect(readyLine).toMatchObject({ msg: `Rivulet ready at ${url}`, url });
      const serverPid = readyLine?.pid as number;
      strays.add(serverPid);
      expect(alive(serverPid)).toBe(true);

      npm.child.kill(signal);
      expect(await npm.exited).toEqual({ code: 0, signal: null });
      // The server itself got the signal (npm's child is the server, not a shell that dies alone) and drained.
      await until('the server process to be gone', () => (alive(serverPid) ? undefined : true));
      expect(await portOpen(port)).toBe(false);
      const messages = jsonLines(npm.stdout()).map((line) => line.msg);
      expect(messages).toContain('shutting down gracefully');
      expect(jsonLines(npm.stdout()).find((line) => line.msg === 'shut down')).toMatchObject({
        pid: serverPid,
        finished: 0,
        cut: 0,
      });
    },
    TIMEOUT_MS * 2,
  );
});

describe('a port already taken', () => {
  let holder: Server | undefined;
  afterAll(() => holder?.close());

  it('says so in one line and exits 1, without a stack trace', async () => {
    holder = createServer();
    const port = await new Promise<number>((resolve) =>
      holder!.listen(0, '127.0.0.1', () => resolve((holder!.address() as { port: number }).port)),
    );
    const serve = start(
      process.execPath,
      ['--experimental-strip-types', CLI, 'serve'],
      serverEnv(port, { LOG_LEVEL: 'warn' }),
    );
    const { code } = await serve.exited;
    expect(code).toBe(1);
    expect(serve.stderr()).toBe(
      `Cannot listen on 127.0.0.1:${port}: the port is already in use (EADDRINUSE). Stop whatever listens there ` +
        '(is Rivulet already running?) or set PORT to a free port.\n',
    );
    expect(serve.stdout()).toBe('');
  });
});

describe('log format', () => {
  it('auto is readable lines on a terminal and JSON anywhere else', () => {
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
  });

  it('JSON lines by default when stdout is not a terminal, LOG_LEVEL in any case', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const serve = start(
      process.execPath,
      ['--experimental-strip-types', CLI, 'serve'],
      serverEnv(port, { LOG_LEVEL: 'DEBUG' }),
    );
    await ready(url, serve);
    const answer = await fetch(`${url}/api/chat/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'hello' }),
    });
    await answer.text();
    serve.child.kill('SIGTERM');
    expect((await serve.exited).code).toBe(0);
    const lines = jsonLines(serve.stdout());
    expect(lines.find((line) => line.msg === `Rivulet ready at ${url}`)).toMatchObject({
      level: 30,
      url,
      provider: 'none',
    });
    expect(lines).toContainEqual(expect.objectContaining({ level: 20, msg: 'answer cache miss' }));
  });

  it('LOG_FORMAT=pretty: readable lines, a ready banner, credentials still masked', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwcmV0dHkifQ.PRETTYsignature0123456789';
    const serve = start(
      process.execPath,
      ['--experimental-strip-types', CLI, 'serve'],
      serverEnv(port, { LOG_FORMAT: 'Pretty' }),
    );
    await ready(url, serve);
    await fetch(`${url}/healthz?access_token=${token}`);
    await until('the request log', () => (serve.stdout().includes('request completed') ? true : undefined));
    serve.child.kill('SIGTERM');
    expect((await serve.exited).code).toBe(0);
    const out = serve.stdout();
    expect(out).toContain(`\n  Rivulet ready at ${url}\n`);
    expect(out).toContain('set LLM_BASE_URL and LLM_MODEL');
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: /m);
    expect(out).not.toMatch(/^\{"level"/m);
    expect(out).toContain('/healthz?access_token=');
    expect(out).not.toContain('PRETTYsignature');
    expect(out).toContain('shut down');
  });
});
