// `npm run bench:checkpoints`: what saving a streaming answer's text every RUN_CHECKPOINT_MS costs.
// 1. The store call alone, on an on-disk SQLite database (WAL, as the server runs it) and, with --database-url, on a
//    scratch PostgreSQL database: 200 streaming answers saved one write each (as a timer per answer did) against one
//    checkpointMessages batch per round (as the shared scheduler does); CPU per answer saved.
// 2. End to end: two Rivulet processes on on-disk databases, one with RUN_CHECKPOINT_MS=0 (saved only at the end) and
//    one with checkpoints, stream the same load in alternating trials; Rivulet's CPU per token for each.

import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openStores } from '../src/stores/open-stores.ts';
import { integerFlag, SEED } from './levels.ts';
import { backendCpuDelta, createScratchDatabase } from './scratch-postgres.ts';
import { runLoad, type LoadPlan, type Target } from './load-client.ts';
import type { ScenarioSetMessage, SetScenarioMessage } from './messages.ts';
import {
  assertRunning,
  cpuDelta,
  cpuResolutionMicroseconds,
  freePort,
  processCpu,
  runBench,
  spawnChild,
  startFakeUpstreamChild,
  stopChild,
  totalCpuMicroseconds,
  waitForHttpOk,
  waitForMessage,
  type BenchChild,
  ROOT,
  RIVULET_SCRIPT,
} from './processes.ts';

const START_TIMEOUT_MS = 20_000;
const SCRATCH_PREFIX = 'rivulet_checkpoint_bench';

const USAGE = `Usage: npm run bench:checkpoints -- [--concurrency 64] [--tokens 400] [--inter-token-ms 10] [--trials 3] [--checkpoint-ms 1000] [--database-url URL] [--store-only]

  Measures the store call alone (SQLite; PostgreSQL too with --database-url, on a scratch database it creates and
  drops), one write per answer against one batch; then, unless --store-only, streams <concurrency> answers of <tokens> tokens, <inter-token-ms> apart, through Rivulet with checkpoints off and
  on (every <checkpoint-ms>), <trials> times each, alternating; prints Rivulet's CPU per token for both.`;

/** The store call alone, answer by answer (a timer and a write per answer) or in one batch per round (the scheduler). */
interface StoreCallCost {
  /** Rivulet's CPU per answer saved, µs. */
  perAnswer: number;
  /** Wall time of one round (every answer saved once), ms. */
  roundMs: number;
  /** PostgreSQL backends' CPU per answer saved, µs; undefined on SQLite or when it cannot be read. */
  backendPerAnswer?: number;
}

const MICRO_ANSWERS = 200;
const MICRO_ROUNDS = 20;

/**
 * checkpointMessage(s) alone: MICRO_ANSWERS streaming answers, each saved MICRO_ROUNDS times as its text grows, on
 * the store `databaseUrl` names (PostgreSQL) or an on-disk SQLite file under `dir`.
 */
async function measureStoreCall(
  dir: string,
  databaseUrl: string | undefined,
): Promise<Record<'oneByOne' | 'batched', StoreCallCost>> {
  const scratch =
    databaseUrl === undefined ? undefined : await createScratchDatabase(databaseUrl, SCRATCH_PREFIX);
  const stores = await openStores(
    scratch === undefined ? { dataDir: join(dir, 'micro') } : { dataDir: dir, databaseUrl: scratch.url },
  );
  try {
    const ids: string[] = [];
    for (let index = 0; index < MICRO_ANSWERS; index += 1) {
      const conversation = await stores.conversations.createConversation(null, 'default');
      const id = `msg_${index}`;
      await stores.conversations.appendMessage({
        id,
        conversationId: conversation.id,
        role: 'assistant',
        content: '',
        createdAt: Date.now(),
        status: 'streaming',
        runId: `run_${index}`,
      });
      ids.push(id);
    }
    // The answers' sources, saved by their first checkpoint as the scheduler does, before the rounds measured: about
    // the 3.5 KB five passages of the sample corpus make (a store that rewrote them with every checkpoint pays here).
    const sources = Array.from({ length: 5 }, (_, index) => ({
      id: String(index + 1),
      documentId: `doc_${index}`,
      chunkId: `doc_${index}#0`,
      title: `Document ${index}`,
      snippet: 'A passage of the document the answer cites, as the sources event carries it. '.repeat(8),
      score: 1 - index / 10,
    }));
    await stores.conversations.checkpointMessages(ids.map((id) => ({ id, content: '', sources })));
    // About what a second of a fast model adds per answer: 50 tokens of 5 characters.
    const piece = 'word '.repeat(50);
    const measure = async (save: (text: string) => Promise<unknown>): Promise<StoreCallCost> => {
      let text = '';
      const backendBefore = await scratch?.backendCpu();
      const started = process.cpuUsage();
      const wallStarted = performance.now();
      for (let round = 0; round < MICRO_ROUNDS; round += 1) {
        text += piece;
        await save(text);
      }
      const wallMs = performance.now() - wallStarted;
      const used = process.cpuUsage(started);
      const calls = MICRO_ANSWERS * MICRO_ROUNDS;
      const cost: StoreCallCost = {
        perAnswer: (used.user + used.system) / calls,
        roundMs: wallMs / MICRO_ROUNDS,
      };
      if (
        scratch !== undefined &&
        backendBefore !== undefined &&
        scratch.backendCpuSkipReason === undefined
      ) {
        cost.backendPerAnswer =
          backendCpuDelta(backendBefore, await scratch.backendCpu()).microseconds / calls;
      }
      return cost;
    };
    const conversations = stores.conversations;
    // Before the scheduler: each answer's own timer, its own write, all due within the same second.
    const oneByOne = await measure((text) =>
      Promise.all(ids.map((id) => conversations.checkpointMessage(id, { content: text }))),
    );
    const batched = await measure((text) =>
      conversations.checkpointMessages(ids.map((id) => ({ id, content: text }))),
    );
    return { oneByOne, batched };
  } finally {
    await stores.close();
    await scratch?.drop();
  }
}

function storeCallLines(store: string, cost: Record<'oneByOne' | 'batched', StoreCallCost>): string[] {
  const backend = (value: number | undefined): string => (value === undefined ? '-' : value.toFixed(1));
  return [
    `| ${store}: one write per answer | ${cost.oneByOne.perAnswer.toFixed(1)} | ${backend(cost.oneByOne.backendPerAnswer)} | ${cost.oneByOne.roundMs.toFixed(1)} |`,
    `| ${store}: one batch per tick | ${cost.batched.perAnswer.toFixed(1)} | ${backend(cost.batched.backendPerAnswer)} | ${cost.batched.roundMs.toFixed(1)} |`,
  ];
}

interface Trial {
  cpuMicroseconds: number;
  tokens: number;
  failed: number;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      concurrency: { type: 'string' },
      tokens: { type: 'string' },
      'inter-token-ms': { type: 'string' },
      trials: { type: 'string' },
      'checkpoint-ms': { type: 'string' },
      'database-url': { type: 'string' },
      'store-only': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const concurrency = integerFlag('concurrency', values.concurrency, 1, 2000) ?? 64;
  const tokens = integerFlag('tokens', values.tokens, 1, 100_000) ?? 400;
  const interTokenMs = integerFlag('inter-token-ms', values['inter-token-ms'], 0, 10_000) ?? 10;
  const trials = integerFlag('trials', values.trials, 1, 20) ?? 3;
  const checkpointMs = integerFlag('checkpoint-ms', values['checkpoint-ms'], 1, 600_000) ?? 1000;

  const cpuList = cpus();
  console.log('## Checkpoint cost\n');
  console.log(
    `machine: ${cpuList.length} CPU(s) (${cpuList[0]?.model.trim() ?? 'unknown'}), Linux ${release()}, Node ${process.version}`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'rivulet-checkpoint-bench-'));
  const children: BenchChild[] = [];
  try {
    const micro = await measureStoreCall(dir, undefined);
    const lines = storeCallLines('SQLite (on disk)', micro);
    if (values['database-url'] !== undefined) {
      lines.push(...storeCallLines('PostgreSQL', await measureStoreCall(dir, values['database-url'])));
    }
    console.log(
      `\nThe store call alone: ${MICRO_ANSWERS} streaming answers saved ${MICRO_ROUNDS} times each, texts growing to 5 KB\n`,
    );
    console.log(
      '| store: how | Rivulet CPU µs per answer saved | PostgreSQL backend CPU µs per answer saved | wall ms per round |',
    );
    console.log('| --- | ---: | ---: | ---: |');
    for (const line of lines) console.log(line);
    if (values['store-only'] === true) return 0;

    const { child: fake, url: fakeUrl } = await startFakeUpstreamChild(ROOT, START_TIMEOUT_MS);
    children.push(fake);
    const scenario = { tokenCount: tokens, interTokenMs, ttftMs: 0, seed: SEED };
    const reply = waitForMessage<ScenarioSetMessage>(fake, 'scenario-set', START_TIMEOUT_MS);
    fake.process.send({ type: 'set-scenario', scenario } satisfies SetScenarioMessage);
    await reply;

    const start = async (
      name: string,
      checkpoints: number,
    ): Promise<{ child: BenchChild; target: Target }> => {
      const port = await freePort();
      const child = spawnChild({
        name,
        script: RIVULET_SCRIPT,
        args: ['serve'],
        env: {
          LLM_PROVIDER: 'openai-compatible',
          LLM_BASE_URL: fakeUrl,
          LLM_MODEL: 'bench',
          LOG_LEVEL: 'warn',
          HOST: '127.0.0.1',
          PORT: String(port),
          // On disk, as a real install runs: checkpoints are WAL writes.
          DATA_DIR: join(dir, name),
          SAMPLE_CORPUS: 'false',
          RUN_CHECKPOINT_MS: String(checkpoints),
        },
        cwd: ROOT,
        ipc: false,
      });
      children.push(child);
      await waitForHttpOk(child, port, '/healthz', START_TIMEOUT_MS);
      const target: Target = {
        name,
        port,
        path: '/api/chat/stream',
        body: JSON.stringify({ message: 'Benchmark prompt: tell me about rivers and streams.' }),
        format: 'rivulet',
      };
      return { child, target };
    };
    const off = await start('checkpoints-off', 0);
    const on = await start('checkpoints-on', checkpointMs);

    const streamDurationMs = tokens * interTokenMs;
    const plan: LoadPlan = {
      concurrency,
      rounds: 1,
      rampMs: Math.min(1000, concurrency * 3),
      tokensPerStream: tokens,
      streamDurationMs,
      timeoutMs: streamDurationMs * 4 + 30_000,
    };
    // Warm-up: JIT and connection pools for both.
    for (const server of [off, on]) await runLoad(server.target, { ...plan, concurrency: 16, rampMs: 0 });

    const results = new Map<string, Trial[]>([
      [off.target.name, []],
      [on.target.name, []],
    ]);
    for (let trial = 0; trial < trials; trial += 1) {
      for (const server of [off, on]) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const before = processCpu(server.child.pid);
        const result = await runLoad(server.target, plan);
        const cpu = totalCpuMicroseconds(cpuDelta(before, processCpu(server.child.pid)));
        assertRunning(server.child);
        results.get(server.target.name)?.push({
          cpuMicroseconds: cpu,
          tokens: result.tokensDelivered,
          failed: result.started - result.completed,
        });
      }
    }

    const perToken = (list: readonly Trial[]): number =>
      list.reduce((sum, trial) => sum + trial.cpuMicroseconds, 0) /
      Math.max(
        1,
        list.reduce((sum, trial) => sum + trial.tokens, 0),
      );
    const offPerToken = perToken(results.get(off.target.name) ?? []);
    const onPerToken = perToken(results.get(on.target.name) ?? []);
    // A checkpoint runs when a tick finds new text: about once per interval of each stream's life.
    const checkpointsPerStream = Math.floor(streamDurationMs / checkpointMs);
    const tokensPerCheckpoint = checkpointsPerStream === 0 ? Infinity : tokens / checkpointsPerStream;
    console.log(
      `\nload: ${concurrency} concurrent streams x ${tokens} tokens, ${interTokenMs} ms apart (${(streamDurationMs / 1000).toFixed(1)} s each), ${trials} trial(s) per setting, alternating; CPU clock tick ${cpuResolutionMicroseconds() / 1000} ms`,
    );
    console.log('\n| RUN_CHECKPOINT_MS | CPU µs/token | failed streams |');
    console.log('| ----------------: | -----------: | -------------: |');
    for (const [label, name, value] of [
      ['0 (off)', off.target.name, offPerToken],
      [String(checkpointMs), on.target.name, onPerToken],
    ] as const) {
      const failed = (results.get(name) ?? []).reduce((sum, trial) => sum + trial.failed, 0);
      console.log(`| ${label} | ${value.toFixed(1)} | ${failed} |`);
    }
    console.log(
      `\ncheckpoints: about ${checkpointsPerStream} per stream (one per ${tokensPerCheckpoint.toFixed(0)} tokens); difference ${(onPerToken - offPerToken).toFixed(1)} µs/token end to end (trial noise included); the batched store call alone amortises to ${(micro.batched.perAnswer / tokensPerCheckpoint).toFixed(2)} µs/token`,
    );
    const failed = [...results.values()].flat().reduce((sum, trial) => sum + trial.failed, 0);
    return failed > 0 ? 1 : 0;
  } finally {
    await Promise.all(children.map((child) => stopChild(child)));
    rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
