// `rivulet bench --url <rivulet>`: a bounded load test against a running Rivulet, SSE and WebSocket side by side:
// TTFT p50/p99, inter-token gap p99, tokens/s and errors by code, as a client measures them.

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { isLoopbackHost } from '../../config.ts';
import { formatNumber, markdownTable, percentile } from '../stats.ts';
import { BenchSocket, streamOverSse, type BenchTarget, type StreamSample } from './bench-streams.ts';

export const BENCH_USAGE = `Usage: rivulet bench --url <rivulet> [--concurrency N] [--duration S] [options]

  Streams answers from a running Rivulet with N at a time, for S seconds per transport (SSE, then WebSocket), and
  prints TTFT p50/p99, the inter-token gap p99, tokens/s and errors by code, the transports side by side. Every
  answer is a real one: it costs what the server's provider charges.

  --url URL           The server, e.g. http://127.0.0.1:3000 (loopback only, unless --allow-remote)
  --concurrency N     Answers streaming at once, 1 to ${256} (default 4)
  --duration S        Seconds per transport, 1 to 600 (default 10); answers still open 30 s later are cut
  --max-streams N     At most N answers per transport (default 1000)
  --transport T       sse, ws or both (default both)
  --api-key KEY       An API key (rk_...), sent as Authorization: Bearer
  --token JWT         A user's JWT, sent as Authorization: Bearer
  --chatbot ID        The chatbot to ask (default: the server's default)
  --message TEXT      The question (default: a short one)
  --allow-remote      Allow a URL that is not a loopback address`;

const LIMITS = { concurrency: 256, durationS: 600, maxStreams: 100_000 } as const;
/** How long answers still streaming when the duration ends may take before they are cut. */
const DRAIN_MS = 30_000;
/** Pause of a slot after a failed answer. */
const FAILURE_PAUSE_MS = 50;
const DEFAULT_MESSAGE = 'What is this service for? Answer in two sentences.';

type Transport = 'sse' | 'ws';

interface TransportResult {
  transport: Transport;
  samples: StreamSample[];
  elapsedMs: number;
}

/** A bench refusal the user can fix: printed as one line, exit 2. */
class BenchUsageError extends Error {}

function wholeNumber(name: string, value: string, min: number, max: number): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < min || number > max) {
    throw new BenchUsageError(`--${name} must be a whole number from ${min} to ${max} (got "${value}").`);
  }
  return number;
}

function parseBenchArgs(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      concurrency: { type: 'string', default: '4' },
      duration: { type: 'string', default: '10' },
      'max-streams': { type: 'string', default: '1000' },
      transport: { type: 'string', default: 'both' },
      'api-key': { type: 'string' },
      token: { type: 'string' },
      chatbot: { type: 'string' },
      message: { type: 'string', default: DEFAULT_MESSAGE },
      'allow-remote': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) return undefined;
  if (values.url === undefined)
    throw new BenchUsageError('--url is required (e.g. --url http://127.0.0.1:3000).');
  let url: URL;
  try {
    url = new URL(values.url);
  } catch {
    throw new BenchUsageError(`--url is not a URL: "${values.url}".`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new BenchUsageError(`--url must be http:// or https:// (got ${url.protocol}).`);
  }
  if (!isLoopbackHost(url.hostname) && !values['allow-remote']) {
    throw new BenchUsageError(
      `Refusing to load ${url.host}: it is not a loopback address. A bench sends many real answers; pass --allow-remote if this server is yours to load.`,
    );
  }
  if (values['api-key'] !== undefined && values.token !== undefined) {
    throw new BenchUsageError('Give --api-key or --token, not both.');
  }
  const transports: Transport[] =
    values.transport === 'both'
      ? ['sse', 'ws']
      : values.transport === 'sse' || values.transport === 'ws'
        ? [values.transport]
        : [];
  if (transports.length === 0)
    throw new BenchUsageError(`--transport must be sse, ws or both (got "${values.transport}").`);
  const credential = values['api-key'] ?? values.token;
  const target: BenchTarget = {
    url: url.origin,
    headers: credential === undefined ? {} : { authorization: `Bearer ${credential}` },
    body: { message: values.message, ...(values.chatbot === undefined ? {} : { chatbotId: values.chatbot }) },
  };
  return {
    target,
    transports,
    concurrency: wholeNumber('concurrency', values.concurrency, 1, LIMITS.concurrency),
    durationMs: wholeNumber('duration', values.duration, 1, LIMITS.durationS) * 1000,
    maxStreams: wholeNumber('max-streams', values['max-streams'], 1, LIMITS.maxStreams),
  };
}

export async function benchCommand(argv: string[]): Promise<number> {
  let options: ReturnType<typeof parseBenchArgs>;
  try {
    options = parseBenchArgs(argv);
  } catch (error) {
    if (!(error instanceof BenchUsageError)) throw error;
    console.error(error.message);
    return 2;
  }
  if (options === undefined) {
    console.log(BENCH_USAGE);
    return 0;
  }
  const { target, transports, concurrency, durationMs, maxStreams } = options;
  console.log(
    `Benchmarking ${target.url}: ${concurrency} at a time, ${durationMs / 1000} s per transport (${transports.join(', ')})\n`,
  );
  const results: TransportResult[] = [];
  for (const transport of transports) {
    const result = await runTransport(transport, target, concurrency, durationMs, maxStreams);
    results.push(result);
    const failed = result.samples.filter((sample) => sample.error !== undefined).length;
    console.log(
      `${transport}: ${result.samples.length} answers, ${failed} failed, ${formatNumber(result.elapsedMs / 1000, 1)} s`,
    );
  }
  console.log(`\n${report(results)}`);
  const errors = errorsByCode(results);
  if (errors.length > 0) console.log(`\nErrors by code:\n${errors.join('\n')}`);
  const answered = results.some((result) => result.samples.some((sample) => sample.error === undefined));
  return answered ? 0 : 1;
}

/** N slots each stream answers one after another until the duration or the stream budget is spent. */
async function runTransport(
  transport: Transport,
  target: BenchTarget,
  concurrency: number,
  durationMs: number,
  maxStreams: number,
): Promise<TransportResult> {
  const startedAt = performance.now();
  const deadline = AbortSignal.timeout(durationMs + DRAIN_MS);
  const samples: StreamSample[] = [];
  let started = 0;
  const more = (): boolean =>
    performance.now() - startedAt < durationMs && started < maxStreams && !deadline.aborted;
  const slot = async (): Promise<void> => {
    let socket = transport === 'ws' ? new BenchSocket(target) : undefined;
    try {
      while (more()) {
        started += 1;
        // A socket the server closed (a refusal, a restart) is replaced, as a client reconnects.
        if (socket?.closed === true) socket = new BenchSocket(target);
        const sample =
          socket === undefined
            ? await streamOverSse(target, deadline)
            : await socket.stream(target, deadline);
        samples.push(sample);
        // A refusal comes back at once: pause, or a failing target would be hammered in a tight loop.
        if (sample.error !== undefined) await sleep(FAILURE_PAUSE_MS);
      }
    } finally {
      socket?.close();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, slot));
  return { transport, samples, elapsedMs: performance.now() - startedAt };
}

function report(results: readonly TransportResult[]): string {
  const names: Record<Transport, string> = { sse: 'SSE', ws: 'WebSocket' };
  const rows: [string, (result: TransportResult) => string][] = [
    ['answers', (result) => String(result.samples.length)],
    ['failed', (result) => String(result.samples.filter((sample) => sample.error !== undefined).length)],
    ['TTFT p50 ms', (result) => formatNumber(percentile(ttfts(result), 50), 1)],
    ['TTFT p99 ms', (result) => formatNumber(percentile(ttfts(result), 99), 1)],
    [
      'gap p99 ms',
      (result) =>
        formatNumber(
          percentile(
            result.samples.flatMap((s) => s.gapsMs),
            99,
          ),
          1,
        ),
    ],
    ['tokens/s (all)', (result) => formatNumber((tokens(result) * 1000) / result.elapsedMs, 0)],
    ['tokens', (result) => String(tokens(result))],
  ];
  return markdownTable(
    ['', ...results.map((result) => names[result.transport])],
    rows.map(([label, value]) => [label, ...results.map(value)]),
  );
}

const ttfts = (result: TransportResult): number[] =>
  result.samples.flatMap((sample) => (sample.ttftMs === undefined ? [] : [sample.ttftMs]));
const tokens = (result: TransportResult): number =>
  result.samples.reduce((sum, sample) => sum + sample.tokens, 0);

function errorsByCode(results: readonly TransportResult[]): string[] {
  const lines: string[] = [];
  for (const result of results) {
    const counts = new Map<string, number>();
    for (const sample of result.samples) {
      if (sample.error !== undefined) counts.set(sample.error, (counts.get(sample.error) ?? 0) + 1);
    }
    for (const [code, count] of [...counts].sort((a, b) => b[1] - a[1])) {
      lines.push(`  ${result.transport === 'sse' ? 'SSE' : 'WebSocket'}  ${code}  ${count}`);
    }
  }
  return lines;
}
