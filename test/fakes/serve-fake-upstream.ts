// CLI that runs the fake OpenAI upstream on its own, for benchmarks and manual poking (`npm run fake-upstream`).

import { startFakeUpstream, type FakeScenario } from './openai-upstream.ts';

function integerFromEnv(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function scenarioFromEnv(): FakeScenario {
  // Unset knobs stay undefined, which every scenario field treats as "use the default".
  return {
    tokenCount: integerFromEnv('FAKE_TOKENS'),
    seed: integerFromEnv('FAKE_SEED'),
    headersDelayMs: integerFromEnv('FAKE_HEADERS_DELAY_MS'),
    ttftMs: integerFromEnv('FAKE_TTFT_MS'),
    interTokenMs: integerFromEnv('FAKE_INTER_TOKEN_MS'),
    errorStatus: integerFromEnv('FAKE_ERROR_STATUS'),
    dropAfter: integerFromEnv('FAKE_DROP_AFTER'),
    stallAfter: integerFromEnv('FAKE_STALL_AFTER'),
    malformedAfter: integerFromEnv('FAKE_MALFORMED_AFTER'),
    splitMultibyte: process.env.FAKE_SPLIT_MULTIBYTE === '1' ? true : undefined,
  };
}

async function main(): Promise<void> {
  const scenario = scenarioFromEnv();
  const upstream = await startFakeUpstream({
    port: integerFromEnv('FAKE_PORT') ?? 4010,
    host: '127.0.0.1',
    scenario,
  });
  console.log(`fake OpenAI upstream listening at ${upstream.url} with scenario ${JSON.stringify(scenario)}`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: closing fake upstream after ${upstream.requests.length} requests`);
    upstream.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
