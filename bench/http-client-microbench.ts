// Microbenchmark: the client-side CPU of reading a streamed response, undici.request against undici's dispatcher
// handler API (undici-dispatch) and node:http's http.request (keep-alive Agent each). A child process serves N small SSE chunks per POST, one write per chunk with
// setImmediate between them (as test/fakes' OpenAI upstream does); another child process reads `--concurrency`
// streams at a time with one client and reports its own process.cpuUsage() per chunk. Clients alternate per trial.
//
//   flock /tmp/bench.lock node bench/http-client-microbench.ts [--concurrency 64] [--chunks 1000] [--rounds 3]
//     [--trials 3] [--clients undici,undici-dispatch,node-http] [--cpu-prof DIR]

import { fork, type ChildProcess } from 'node:child_process';
import { Agent as HttpAgent, createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Agent as UndiciAgent, request as undiciRequest } from 'undici';

const CHUNK =
  'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"fake","choices":' +
  '[{"index":0,"delta":{"content":" token"},"finish_reason":null}]}\n\n';

function serve(): void {
  const server = createServer((request, response) => {
    const chunks = Number(request.headers['x-chunks'] ?? 100);
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let sent = 0;
      const next = (): void => {
        if (response.destroyed) return;
        if (sent === chunks) {
          response.end('data: [DONE]\n\n');
          return;
        }
        sent += 1;
        response.write(CHUNK);
        setImmediate(next);
      };
      next();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    process.send?.({ port: (server.address() as AddressInfo).port });
  });
  process.once('disconnect', () => process.exit(0));
}

interface ClientOptions {
  port: number;
  client: string;
  concurrency: number;
  chunks: number;
  rounds: number;
}

type StreamOnce = (body: Buffer) => Promise<number>;

/** Data events seen (to check both clients see the chunks the same way). */
let events = 0;

/** The headers every client sends: a JSON body, and how many chunks the server is to answer with. */
function requestHeaders(body: Buffer, chunks: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'content-length': String(body.byteLength),
    'x-chunks': chunks,
  };
}

function undiciClient(url: URL, chunks: string): StreamOnce {
  const dispatcher = new UndiciAgent({ keepAliveTimeout: 10_000 });
  return async (body) => {
    const response = await undiciRequest(url, {
      method: 'POST',
      headers: requestHeaders(body, chunks),
      body,
      dispatcher,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    return await new Promise<number>((resolve, reject) => {
      let bytes = 0;
      response.body.on('data', (chunk: Buffer) => {
        events += 1;
        bytes += chunk.length;
      });
      response.body.on('end', () => resolve(bytes));
      response.body.on('error', reject);
    });
  };
}

/** undici's dispatcher handler API: body chunks straight from the parser, no body stream. */
function undiciDispatchClient(url: URL, chunks: string): StreamOnce {
  const dispatcher = new UndiciAgent({ keepAliveTimeout: 10_000 });
  const path = url.pathname;
  const origin = url.origin;
  return (body) =>
    new Promise<number>((resolve, reject) => {
      let bytes = 0;
      dispatcher.dispatch(
        {
          origin,
          path,
          method: 'POST',
          headers: requestHeaders(body, chunks),
          body,
          headersTimeout: 30_000,
          bodyTimeout: 30_000,
        },
        {
          onRequestStart() {},
          onResponseStart() {},
          onResponseData(_controller, chunk: Buffer) {
            events += 1;
            bytes += chunk.length;
          },
          onResponseEnd() {
            resolve(bytes);
          },
          onResponseError(_controller, error) {
            reject(error);
          },
        },
      );
    });
}

function nodeHttpClient(url: URL, chunks: string): StreamOnce {
  const agent = new HttpAgent({ keepAlive: true, keepAliveMsecs: 10_000 });
  return (body) =>
    new Promise<number>((resolve, reject) => {
      const request = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          agent,
          headers: requestHeaders(body, chunks),
        },
        (response) => {
          let bytes = 0;
          response.on('data', (chunk: Buffer) => {
            events += 1;
            bytes += chunk.length;
          });
          response.on('end', () => resolve(bytes));
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(body);
    });
}

async function runClient(options: ClientOptions): Promise<void> {
  const url = new URL(`http://127.0.0.1:${options.port}/v1/chat/completions`);
  const make =
    options.client === 'undici'
      ? undiciClient
      : options.client === 'undici-dispatch'
        ? undiciDispatchClient
        : nodeHttpClient;
  const once = make(url, String(options.chunks));
  const body = Buffer.from(
    JSON.stringify({ model: 'fake', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  );
  const round = async (): Promise<void> => {
    await Promise.all(Array.from({ length: options.concurrency }, () => once(body)));
  };
  await round(); // warm-up: connections, JIT
  events = 0;
  const before = process.cpuUsage();
  for (let index = 0; index < options.rounds; index += 1) await round();
  const used = process.cpuUsage(before);
  const chunks = options.concurrency * options.chunks * options.rounds;
  process.send?.({
    microsPerChunk: (used.user + used.system) / chunks,
    user: used.user / chunks,
    system: used.system / chunks,
    eventsPerChunk: events / chunks,
    microsPerRequest: (used.user + used.system) / (options.concurrency * options.rounds),
  });
  process.exit(0);
}

interface ClientResult {
  microsPerChunk: number;
  user: number;
  system: number;
  eventsPerChunk: number;
  microsPerRequest: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function main(): Promise<void> {
  const role = process.env['MICROBENCH_ROLE'];
  if (role === 'server') {
    serve();
    return;
  }
  if (role === 'client') {
    await runClient(JSON.parse(process.env['MICROBENCH_OPTIONS']!) as ClientOptions);
    return;
  }
  const { values } = parseArgs({
    options: {
      concurrency: { type: 'string', default: '64' },
      chunks: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '3' },
      trials: { type: 'string', default: '3' },
      clients: { type: 'string', default: 'undici,node-http' },
      'cpu-prof': { type: 'string' },
    },
  });
  const self = new URL(import.meta.url).pathname;
  const server = fork(self, [], { env: { ...process.env, MICROBENCH_ROLE: 'server' } });
  const port = await new Promise<number>((resolve) =>
    server.once('message', (message) => resolve((message as { port: number }).port)),
  );
  const clients = values.clients.split(',');
  const results = new Map<string, number[]>(clients.map((client) => [client, []]));
  for (let trial = 0; trial < Number(values.trials); trial += 1) {
    for (const client of clients) {
      const options: ClientOptions = {
        port,
        client,
        concurrency: Number(values.concurrency),
        chunks: Number(values.chunks),
        rounds: Number(values.rounds),
      };
      const profile = values['cpu-prof'];
      const child: ChildProcess = fork(self, [], {
        execArgv: [
          ...process.execArgv,
          ...(profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', `${profile}/${client}`]),
        ],
        env: { ...process.env, MICROBENCH_ROLE: 'client', MICROBENCH_OPTIONS: JSON.stringify(options) },
      });
      const result = await new Promise<ClientResult>((resolve) =>
        child.once('message', (message) => resolve(message as ClientResult)),
      );
      results.get(client)!.push(result.microsPerChunk);
      console.log(
        `trial ${trial + 1} ${client.padEnd(9)} ${result.microsPerChunk.toFixed(2)} µs/chunk, ` +
          `${result.microsPerRequest.toFixed(1)} µs/request ` +
          `(user ${result.user.toFixed(2)}, system ${result.system.toFixed(2)}; ` +
          `${result.eventsPerChunk.toFixed(2)} data events per chunk)`,
      );
    }
  }
  for (const [client, values_] of results) {
    console.log(`median ${client.padEnd(9)} ${median(values_).toFixed(2)} µs/chunk`);
  }
  server.kill();
}

await main();
