// Parses files off the event loop: a small pool of child processes (parse-worker.ts), each with a heap limit, and a
// wall-clock limit per file enforced from here by killing the process, which works however blocked the parser is.
// Processes, not worker threads: a worker thread that reaches its heap limit during a large allocation can abort the
// whole server ("Reached heap limit"), while a child process that runs out of memory dies alone. A file that outgrows
// either limit gets a coded error (DOCUMENT_TOO_COMPLEX, DOCUMENT_PARSE_TIMEOUT), the process is replaced on demand,
// and the server never waits on a parse. Files beyond the pool's size wait their turn. Processes are reused
// (starting one loads the parsers, a few hundred ms), are unref'd while idle so that they never keep the server
// alive, and end after a while without work.

import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isErrorCode, RivuletError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { ChunkOptions } from './chunker.ts';
import type { ParsedFile, ParseOutcome } from './parse-document.ts';
import type { WorkerRequest } from './parse-worker.ts';
import type { LoadOptions } from './parsed-document.ts';

export type { ParsedFile };

export interface DocumentParser {
  /** Loads and chunks one file; rejects with a RivuletError naming the file (or the signal's reason). */
  parse(bytes: Uint8Array, fileName: string, options: LoadOptions, signal?: AbortSignal): Promise<ParsedFile>;
  close(): Promise<void>;
}

export interface ParserPoolOptions {
  /** Files parsed at once (DOCUMENT_PARSE_WORKERS). */
  workers: number;
  /** Wall-clock time per file (DOCUMENT_PARSE_TIMEOUT_MS). */
  timeoutMs: number;
  /** Each parse process's old-generation heap in MB (DOCUMENT_PARSE_MEMORY_MB). */
  memoryMb: number;
  maxExpandedBytes: number;
  maxChunks: number;
  chunking?: ChunkOptions;
  /** An idle worker ends after this long (default 30 s). */
  idleMs?: number;
  logger?: Logger;
}

const WORKER_PATH = fileURLToPath(new URL('./parse-worker.ts', import.meta.url));
/** The end of a parse process's stderr that is kept, to tell an out-of-memory death from another crash. */
const STDERR_TAIL_BYTES = 4096;
const DEFAULT_IDLE_MS = 30_000;
/**
 * Memory a parse process may hold beyond its JavaScript heap: the heap limit does not cover buffers outside it (the
 * streams pdf.js inflates, zlib's output), so the process's resident memory is sampled too and it is killed past
 * DOCUMENT_PARSE_MEMORY_MB plus this.
 */
const RSS_ALLOWANCE_MB = 256;
const RSS_SAMPLE_MS = 100;

interface Job {
  id: number;
  request: Omit<WorkerRequest, 'id'>;
  resolve(file: ParsedFile): void;
  reject(error: unknown): void;
  signal: AbortSignal | undefined;
  onAbort?: () => void;
}

interface Slot {
  worker: ChildProcess;
  /** Samples its resident memory while it parses. */
  watch?: NodeJS.Timeout | undefined;
  /** The last bytes it wrote to stderr. */
  stderr: string;
  job?: Job | undefined;
  timer?: NodeJS.Timeout | undefined;
}

export class ParserPool implements DocumentParser {
  readonly #options: ParserPoolOptions;
  readonly #slots = new Set<Slot>();
  readonly #idle: Slot[] = [];
  readonly #queue: Job[] = [];
  #nextId = 1;
  #closed = false;

  constructor(options: ParserPoolOptions) {
    this.#options = options;
  }

  parse(
    bytes: Uint8Array,
    fileName: string,
    options: LoadOptions,
    signal?: AbortSignal,
  ): Promise<ParsedFile> {
    if (this.#closed) return Promise.reject(new RivuletError('SHUTTING_DOWN'));
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    return new Promise<ParsedFile>((resolve, reject) => {
      const job: Job = {
        id: this.#nextId++,
        request: {
          // Just these bytes (a Buffer may be a view of a larger shared pool); the channel copies them once.
          bytes: new Uint8Array(bytes),
          fileName,
          options: { ...options },
          chunking: this.#options.chunking ?? {},
          maxExpandedBytes: this.#options.maxExpandedBytes,
          maxChunks: this.#options.maxChunks,
        },
        resolve,
        reject,
        signal,
      };
      if (signal !== undefined) {
        job.onAbort = () => this.#abort(job);
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.#queue.push(job);
      this.#pump();
    });
  }

  /** Ends every worker; files waiting or parsing are refused with SHUTTING_DOWN. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) this.#settle(job, new RivuletError('SHUTTING_DOWN'));
    const workers = [...this.#slots].map((slot) => {
      if (slot.job !== undefined) this.#settle(slot.job, new RivuletError('SHUTTING_DOWN'));
      return this.#retire(slot);
    });
    await Promise.all(workers);
  }

  /** Workers alive now (for tests and stats). */
  get workerCount(): number {
    return this.#slots.size;
  }

  #pump(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      const slot = this.#idle.pop() ?? (this.#slots.size < this.#options.workers ? this.#spawn() : undefined);
      if (slot === undefined) return;
      this.#run(slot, this.#queue.shift()!);
    }
  }

  #spawn(): Slot {
    const worker = fork(WORKER_PATH, [], {
      // Node runs the TypeScript entry itself (type stripping); none of the server's other flags are passed on.
      execArgv: [
        `--max-old-space-size=${this.#options.memoryMb}`,
        // Node 22 needs the flag to run TypeScript; where the server was started with it, so is the parser.
        ...process.execArgv.filter((flag) => flag === '--experimental-strip-types'),
      ],
      // Structured clone over the channel, so the file's bytes go as bytes.
      serialization: 'advanced',
      // Its stdout (a parser's stray warnings) is dropped; the end of stderr tells how it died.
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const slot: Slot = { worker, stderr: '' };
    worker.stderr?.setEncoding('utf8');
    worker.stderr?.on('data', (text: string) => {
      slot.stderr = (slot.stderr + text).slice(-STDERR_TAIL_BYTES);
    });
    this.#slots.add(slot);
    worker.on('message', (message: { id: number } & ParseOutcome) => this.#done(slot, message));
    worker.on('error', (error: Error) => this.#failed(slot, error));
    worker.on('exit', (code, signal) => {
      const outOfMemory = /heap out of memory|Reached heap limit/.test(slot.stderr);
      const error = new Error(`the parse process exited with ${signal ?? `code ${String(code)}`}`);
      this.#failed(slot, outOfMemory ? Object.assign(error, { code: 'PARSE_OUT_OF_MEMORY' }) : error);
    });
    return slot;
  }

  #run(slot: Slot, job: Job): void {
    slot.job = job;
    clearTimeout(slot.timer);
    setReferenced(slot.worker, true);
    slot.timer = setTimeout(() => {
      this.#options.logger?.warn(
        { source: job.request.fileName, timeoutMs: this.#options.timeoutMs },
        'parse timed out: parse process killed',
      );
      this.#settle(
        job,
        new RivuletError('DOCUMENT_PARSE_TIMEOUT', {
          message: `${job.request.fileName}: took longer than ${formatSeconds(this.#options.timeoutMs)} to read (DOCUMENT_PARSE_TIMEOUT_MS)`,
        }),
      );
      void this.#retire(slot);
    }, this.#options.timeoutMs);
    const capBytes = (this.#options.memoryMb + RSS_ALLOWANCE_MB) * 1024 * 1024;
    slot.watch = setInterval(() => {
      const rss = residentBytes(slot.worker.pid);
      if (rss === undefined || rss <= capBytes || slot.job !== job) return;
      this.#options.logger?.warn(
        { source: job.request.fileName, rssMb: Math.round(rss / 1024 / 1024) },
        'parse used too much memory: parse process killed',
      );
      this.#settle(job, this.#tooComplex(job, `resident memory ${Math.round(rss / 1024 / 1024)} MB`));
      void this.#retire(slot);
    }, RSS_SAMPLE_MS);
    slot.worker.send({ id: job.id, ...job.request } satisfies WorkerRequest);
  }

  #done(slot: Slot, message: { id: number } & ParseOutcome): void {
    const job = slot.job;
    if (job === undefined || job.id !== message.id) return;
    slot.job = undefined;
    clearTimeout(slot.timer);
    clearInterval(slot.watch);
    if (message.ok) this.#settle(job, undefined, message.file);
    else {
      const { code, message: text, detail } = message.error;
      this.#settle(
        job,
        isErrorCode(code)
          ? new RivuletError(code, { message: text, ...(detail === undefined ? {} : { detail }) })
          : new RivuletError('INTERNAL', { detail: `${code}: ${text}` }),
      );
    }
    if (this.#closed || !this.#slots.has(slot)) return;
    setReferenced(slot.worker, false);
    this.#idle.push(slot);
    const idleMs = this.#options.idleMs ?? DEFAULT_IDLE_MS;
    slot.timer = setTimeout(() => {
      if (slot.job === undefined) void this.#retire(slot);
    }, idleMs);
    slot.timer.unref();
    this.#pump();
  }

  /** The process died (heap limit, a crash, a failed start): its file is refused, the next file gets a new one. */
  #failed(slot: Slot, error: Error): void {
    if (!this.#slots.has(slot)) return;
    const job = slot.job;
    void this.#retire(slot);
    if (job === undefined) return;
    const outOfMemory = (error as { code?: unknown }).code === 'PARSE_OUT_OF_MEMORY';
    if (!outOfMemory) {
      this.#options.logger?.error({ err: error, source: job.request.fileName }, 'parse process failed');
    }
    this.#settle(
      job,
      outOfMemory
        ? this.#tooComplex(job, error.message)
        : new RivuletError('INTERNAL', { detail: error.message, cause: error }),
    );
  }

  #tooComplex(job: Job, detail: string): RivuletError {
    return new RivuletError('DOCUMENT_TOO_COMPLEX', {
      message: `${job.request.fileName}: needs more than ${this.#options.memoryMb} MB of memory to read (DOCUMENT_PARSE_MEMORY_MB)`,
      detail,
    });
  }

  #abort(job: Job): void {
    const queued = this.#queue.indexOf(job);
    if (queued >= 0) this.#queue.splice(queued, 1);
    else {
      const slot = [...this.#slots].find((candidate) => candidate.job === job);
      if (slot !== undefined) void this.#retire(slot);
    }
    this.#settle(job, job.signal === undefined ? undefined : abortReason(job.signal));
  }

  /** Forgets a process and kills it; the pool starts another when work comes. */
  async #retire(slot: Slot): Promise<void> {
    if (!this.#slots.delete(slot)) return;
    clearTimeout(slot.timer);
    clearInterval(slot.watch);
    const idle = this.#idle.indexOf(slot);
    if (idle >= 0) this.#idle.splice(idle, 1);
    slot.job = undefined;
    const worker = slot.worker;
    const exited =
      worker.exitCode !== null || worker.signalCode !== null
        ? Promise.resolve()
        : new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    // Referenced until it is gone, so that whoever awaits this (the CLI closing the pool) is not left with an empty
    // event loop that ends the process before the await returns.
    setReferenced(worker, true);
    worker.kill('SIGKILL');
    this.#pump();
    await exited;
  }

  #settle(job: Job, error: unknown, file?: ParsedFile): void {
    if (job.onAbort !== undefined) job.signal?.removeEventListener('abort', job.onAbort);
    if (file !== undefined) job.resolve(file);
    else job.reject(error);
  }
}

/** A process's resident memory in bytes (Linux /proc); undefined where it cannot be read. */
function residentBytes(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kilobytes = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kilobytes === undefined ? undefined : Number(kilobytes) * 1024;
  } catch {
    return undefined;
  }
}

/** An idle parse process (and its channel) must not keep the server's event loop alive. */
function setReferenced(worker: ChildProcess, referenced: boolean): void {
  const channel = worker.channel as { ref(): void; unref(): void } | null | undefined;
  if (referenced) {
    worker.ref();
    channel?.ref();
  } else {
    worker.unref();
    channel?.unref();
  }
}

/** The signal's reason as an Error (AbortSignal.abort() without one gives an AbortError already). */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(String(reason));
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
