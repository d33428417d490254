// CLI that runs the fake upstream on its own (`npm run fake-upstream`), for the demo, benchmarks and manual poking.
// It speaks OpenAI (/v1/chat/completions, /v1/embeddings, /v1/models), Anthropic (/v1/messages) and Ollama
// (/api/chat, /api/embed, /api/tags) on one port. Every knob is an environment variable, listed in KNOBS below
// and in docs/demo.md; `--help` prints them.

import { pathToFileURL } from 'node:url';
import { startFakeUpstream, type FakeScenario } from './openai-upstream.ts';

/** Demo pace of the markdown answer: slow enough to watch it stream, stop it and resume it. */
const MARKDOWN_INTER_TOKEN_MS = 30;
const MARKDOWN_TTFT_MS = 300;

export const KNOBS = `Environment variables of \`npm run fake-upstream\`:

  FAKE_PORT              port to listen on (default 4010; 0 picks a free one)
  FAKE_HOST              address to listen on (default 127.0.0.1)
  FAKE_ANSWER            markdown (default): a Markdown answer with headings, a list, a table and a code
                         block, citing [1]..[n] for the n numbered sources in the prompt; a follow-up's
                         condense request gets a short standalone question.
                         tokens: FAKE_TOKENS generated words (some of them hostile to naive relays)
  FAKE_TOKENS            tokens mode: how many tokens (default 20)
  FAKE_SEED              tokens mode: seed of the generated tokens (default 1)
  FAKE_TTFT_MS           delay before the first token (default ${MARKDOWN_TTFT_MS} in markdown mode, 0 in tokens mode)
  FAKE_INTER_TOKEN_MS    delay between tokens (default ${MARKDOWN_INTER_TOKEN_MS} in markdown mode, 0 in tokens mode)
  FAKE_HEADERS_DELAY_MS  delay before the response status and headers (default 0)
  FAKE_ERROR_STATUS      answer every chat request with this HTTP status and the format's error body
  FAKE_RETRY_AFTER_S     with FAKE_ERROR_STATUS: send Retry-After with this many seconds
  FAKE_DROP_AFTER        cut the connection after this many tokens
  FAKE_STALL_AFTER       stop sending (connection left open) after this many tokens
  FAKE_MALFORMED_AFTER   send one unparseable chunk after this many tokens, then go on
  FAKE_STREAM_ERROR_AFTER  send the format's in-stream error after this many tokens and end
  FAKE_STREAM_ERROR_STATUS with FAKE_STREAM_ERROR_AFTER: the kind of error as a status (default 500)
  FAKE_FINISH_REASON     finish reason in the format's vocabulary (default stop / end_turn, or the length
                         reason when the request's max tokens cut the answer)
  FAKE_SPLIT_MULTIBYTE   1: split each multi-byte character across two TCP writes
  FAKE_API_KEY           require this key (Authorization: Bearer, api-key, or x-api-key for Anthropic)

Every request's max tokens (max_tokens, max_completion_tokens, Anthropic max_tokens, Ollama options.num_predict)
is honoured: the answer stops there with the length finish reason.`;

function integerFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function textFromEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === '' ? undefined : raw;
}

/** The scenario the environment asks for; unset knobs are left out, which every field reads as its default. */
export function scenarioFromEnv(env: NodeJS.ProcessEnv): FakeScenario {
  const answer = (textFromEnv(env, 'FAKE_ANSWER') ?? 'markdown').toLowerCase();
  if (answer !== 'markdown' && answer !== 'tokens') {
    throw new Error(`FAKE_ANSWER must be markdown or tokens, got ${JSON.stringify(env.FAKE_ANSWER)}`);
  }
  const markdown = answer === 'markdown';
  const scenario: FakeScenario = {
    answer,
    tokenCount: integerFromEnv(env, 'FAKE_TOKENS'),
    seed: integerFromEnv(env, 'FAKE_SEED'),
    headersDelayMs: integerFromEnv(env, 'FAKE_HEADERS_DELAY_MS'),
    ttftMs: integerFromEnv(env, 'FAKE_TTFT_MS') ?? (markdown ? MARKDOWN_TTFT_MS : undefined),
    interTokenMs:
      integerFromEnv(env, 'FAKE_INTER_TOKEN_MS') ?? (markdown ? MARKDOWN_INTER_TOKEN_MS : undefined),
    errorStatus: integerFromEnv(env, 'FAKE_ERROR_STATUS'),
    retryAfterSeconds: integerFromEnv(env, 'FAKE_RETRY_AFTER_S'),
    dropAfter: integerFromEnv(env, 'FAKE_DROP_AFTER'),
    stallAfter: integerFromEnv(env, 'FAKE_STALL_AFTER'),
    malformedAfter: integerFromEnv(env, 'FAKE_MALFORMED_AFTER'),
    streamErrorAfter: integerFromEnv(env, 'FAKE_STREAM_ERROR_AFTER'),
    streamErrorStatus: integerFromEnv(env, 'FAKE_STREAM_ERROR_STATUS'),
    finishReason: textFromEnv(env, 'FAKE_FINISH_REASON'),
    splitMultibyte: env.FAKE_SPLIT_MULTIBYTE === '1' ? true : undefined,
  };
  return Object.fromEntries(Object.entries(scenario).filter(([, value]) => value !== undefined));
}

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(KNOBS);
    return;
  }
  const scenario = scenarioFromEnv(process.env);
  const apiKey = textFromEnv(process.env, 'FAKE_API_KEY');
  const upstream = await startFakeUpstream({
    port: integerFromEnv(process.env, 'FAKE_PORT') ?? 4010,
    host: textFromEnv(process.env, 'FAKE_HOST') ?? '127.0.0.1',
    scenario,
    ...(apiKey === undefined ? {} : { requireApiKey: apiKey }),
  });
  console.log(
    `fake upstream listening at ${upstream.url} (OpenAI; Anthropic and Ollama at ${upstream.origin}) with ` +
      `scenario ${JSON.stringify(scenario)}\n` +
      `Point Rivulet at it: LLM_BASE_URL=${upstream.url} LLM_MODEL=fake npm start   (knobs: npm run fake-upstream -- --help)`,
  );

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

// Run only as a script, so tests can import scenarioFromEnv.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
