// Summarises Linux perf samples of a Node process (`perf script` text) by the JavaScript each sample ran for: a
// sample in the kernel, libc, SQLite or V8's builtins counts for the nearest JavaScript function on its stack, so a
// socket write counts for the stream code that wrote, a commit for the store that committed. On a virtual machine
// V8's own profiler charges system calls with more than their share (docs/development.md); perf's clock does not.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { functionKey, packageOf, type CodeLocation } from './code-areas.ts';
import { markdownTable } from './stats.ts';

const USAGE = `Usage: perf script -i relay.jit.data -F comm,tid,ip,sym | node bench/summarize-perf-script.ts [options] [file]

  Record the relay with \`perf record -g -k 1\`, started with BENCH_NODE_FLAGS="--perf-prof --perf-prof-path=DIR
  --logfile=DIR/v8.log --interpreted-frames-native-stack" (DIR must exist), then \`perf inject --jit\` the recording
  (docs/development.md). With --perf-basic-prof instead, a function can carry the name of code that sat at its
  address before.

  --thread <name>   the thread whose samples are split by code (default MainThread); others count by thread name
  --cpu-us <n>      the process's CPU per answer (or per token) in µs, measured apart: adds a µs column
  --top <n>         rows of the function table (default 30)`;

/** One sample: its thread's name and its stack, innermost frame first (perf's symbol names, '[k] ' for the kernel). */
export interface PerfSample {
  thread: string;
  frames: string[];
}

/**
 * A JavaScript function as V8 names it for perf, and the line it starts on (1-based, 0 when unknown). `kind`: code of
 * a script or module, code with no script (\`new Function\`, \`eval\`: fast-json-stringify's serialisers), or
 * WebAssembly (undici's HTTP parser).
 */
export interface JitFunction {
  location: CodeLocation;
  line: number;
  kind: 'script' | 'generated' | 'wasm';
}

/**
 * Reads \`perf script -F comm,tid,ip,sym\` output: a header line per sample (the thread's name, its id), then one
 * line per frame (a tab, the address, the symbol).
 */
export function parsePerfScript(text: string): PerfSample[] {
  const samples: PerfSample[] = [];
  let current: PerfSample | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    // perf indents frames with a tab; a header may start with spaces (a short thread name, padded).
    if (!line.startsWith('\t')) {
      // The thread's name may hold spaces; its id is the last field.
      const header = line.trim();
      current = { thread: header.slice(0, header.lastIndexOf(' ')).trim(), frames: [] };
      samples.push(current);
      continue;
    }
    if (current === undefined) continue;
    const frame = line.trim();
    const space = frame.indexOf(' ');
    const address = space === -1 ? frame : frame.slice(0, space);
    const symbol = space === -1 ? '[unknown]' : frame.slice(space + 1);
    // Kernel addresses are the upper half of the address space.
    current.frames.push(address.length === 16 && address >= '8000000000000000' ? `[k] ${symbol}` : symbol);
  }
  return samples;
}

/** WebAssembly as V8 names it: the function's name (or \`wasm-function[index]\`), its index and its tier. */
const WASM_SUFFIX = /-\d+-(?:liftoff|turbofan|none)$/;
/** The wrapper a call from WebAssembly into JavaScript passes through (\`wasm-to-js-<anonymous>-none\`). */
const WASM_WRAPPER = /^wasm-to-js-/;

/**
 * The function a perf symbol from V8 names, undefined for anything else. JavaScript is
 * \`JS:<tier>'<name> <url>:<line>:<column>\`: the tier mark (\`~\` the interpreter, \`^\` Sparkplug, \`+\` Maglev,
 * \`*\` TurboFan) and the quote (code specialised to its closure's context) optional, the name or the URL possibly
 * empty. A module's or an eval's top-level code is \`Script:\` or \`Eval:\` instead of \`JS:\`. WebAssembly is
 * \`JS:<name>-<index>-<tier>\`, and its calls into JavaScript pass through \`JS:wasm-to-js-...\` wrappers.
 */
export function jitFunction(symbol: string): JitFunction | undefined {
  const prefix = /^(?:JS|Script|Eval):/.exec(symbol);
  if (prefix === null) return undefined;
  const body = symbol
    .slice(prefix[0].length)
    .replace(/^[*+~^]/, '')
    .replace(/^'/, '');
  const where = /^(.*?) ?(\S*):(\d+):\d+$/.exec(body);
  if (where !== null) {
    const url = where[2] ?? '';
    return {
      location: { functionName: where[1] ?? '', url },
      line: Number(where[3]),
      kind: url === '' ? 'generated' : 'script',
    };
  }
  if (WASM_SUFFIX.test(body) || WASM_WRAPPER.test(body)) {
    return { location: { functionName: body.replace(WASM_SUFFIX, ''), url: '' }, line: 0, kind: 'wasm' };
  }
  return { location: { functionName: body, url: '' }, line: 0, kind: 'generated' };
}

export interface PerfSummary {
  samples: number;
  /** Samples of the chosen thread. */
  threadSamples: number;
  /** Samples of the chosen thread by the package of their nearest JavaScript function (or what ran without one). */
  byPackage: Map<string, number>;
  /** The same by function. */
  byFunction: Map<string, number>;
  /** Samples of every other thread, by thread name. */
  otherThreads: Map<string, number>;
}

function add(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** Splits `thread`'s samples by their nearest JavaScript function; a stack with none counts as kernel or native. */
export function summarizeSamples(samples: readonly PerfSample[], thread: string): PerfSummary {
  const summary: PerfSummary = {
    samples: samples.length,
    threadSamples: 0,
    byPackage: new Map(),
    byFunction: new Map(),
    otherThreads: new Map(),
  };
  for (const sample of samples) {
    if (sample.thread !== thread) {
      add(summary.otherThreads, sample.thread);
      continue;
    }
    summary.threadSamples += 1;
    let nearest: JitFunction | undefined;
    for (const frame of sample.frames) {
      nearest = jitFunction(frame);
      if (nearest !== undefined) break;
    }
    if (nearest === undefined) {
      // The event loop's own work: waiting and waking (kernel), libuv, V8's tasks and collector between callbacks.
      const where =
        sample.frames[0]?.startsWith('[k] ') === true ? '(kernel, no JavaScript)' : '(native, no JavaScript)';
      add(summary.byPackage, where);
      add(summary.byFunction, where);
      continue;
    }
    const { location, line, kind } = nearest;
    const key = functionKey(location, line);
    if (kind === 'script') {
      add(summary.byPackage, packageOf(location));
      add(summary.byFunction, key);
    } else {
      // No script to name a package by: the name alone (functionKey's for an empty URL) and what it is.
      const where = kind === 'wasm' ? '(WebAssembly)' : '(JavaScript with no script: new Function, eval)';
      add(summary.byPackage, where);
      add(summary.byFunction, `${key} ${where}`);
    }
  }
  return summary;
}

function main(): void {
  const { values, positionals } = parseArgs({
    options: {
      thread: { type: 'string', default: 'MainThread' },
      'cpu-us': { type: 'string' },
      top: { type: 'string', default: '30' },
      help: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const cpuMicroseconds = values['cpu-us'] === undefined ? undefined : Number(values['cpu-us']);
  const top = Number(values.top);
  if ((cpuMicroseconds !== undefined && !(cpuMicroseconds > 0)) || !(Number.isInteger(top) && top > 0)) {
    console.log(`--cpu-us takes a positive number, --top a positive integer\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const file = positionals[0];
  const text = readFileSync(file ?? 0, 'utf8');
  const summary = summarizeSamples(parsePerfScript(text), values.thread);
  if (summary.samples === 0) {
    console.log(`no samples read\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const { threadSamples } = summary;
  if (threadSamples === 0) {
    const threads = [...summary.otherThreads.keys()].join(', ');
    console.log(
      `no samples of thread ${values.thread}; the recording has: ${threads} (choose one with --thread)`,
    );
    process.exitCode = 2;
    return;
  }
  const row = (key: string, count: number): string[] => [
    key,
    String(count),
    `${((count / summary.samples) * 100).toFixed(1)}%`,
    ...(cpuMicroseconds === undefined ? [] : [((count / summary.samples) * cpuMicroseconds).toFixed(0)]),
  ];
  const headers = (what: string): string[] => [
    what,
    'samples',
    'of all',
    ...(cpuMicroseconds === undefined ? [] : ['µs']),
  ];
  const sorted = (map: Map<string, number>, limit = Number.POSITIVE_INFINITY): [string, number][] =>
    [...map.entries()].sort((left, right) => right[1] - left[1]).slice(0, limit);

  console.log(
    `${summary.samples} samples, ${threadSamples} of them on ${values.thread}` +
      (cpuMicroseconds === undefined ? '' : `; µs: the share of ${cpuMicroseconds} µs`) +
      '\n',
  );
  console.log(`${values.thread} by package of the nearest JavaScript function, then the other threads\n`);
  console.log(
    markdownTable(headers('package'), [
      ...sorted(summary.byPackage).map(([key, count]) => row(key, count)),
      ...sorted(summary.otherThreads).map(([key, count]) => row(`thread ${key}`, count)),
    ]),
  );
  console.log(`\n${values.thread} by nearest JavaScript function\n`);
  console.log(
    markdownTable(
      headers('function'),
      sorted(summary.byFunction, top).map(([key, count]) => row(key, count)),
    ),
  );
}

if (import.meta.main) main();
