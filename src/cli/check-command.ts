// `rivulet check`: asks every configured provider (the fallback chain, in order) a short question and prints how
// each answered: time to first token, tokens/s, usage, or the coded error. Exit 1 when any provider failed.

import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { Config, ProviderConfig } from '../config.ts';
import { toRivuletError } from '../core/errors.ts';
import type { Usage } from '../core/events.ts';
import type { GenerateRequest, LanguageModel } from '../core/provider.ts';
import { redactSecrets } from '../core/redact.ts';
import { createAdapter, resolveLanguageModel } from '../providers/create-language-model.ts';
import { CONFIGURE_HINT } from '../providers/extractive.ts';
import { formatNumber, markdownTable } from './stats.ts';

export const CHECK_USAGE = `Usage: rivulet check [--no-stream] [--prompt TEXT] [--timeout-ms N]

  Streams a short prompt through every configured provider (LLM_PROVIDER, then LLM_FALLBACK in order), each on
  its own (no retries, no failover), and prints per provider: time to first token, tokens/s, usage, and any
  error with its code. Exits 1 when a provider failed.

  --no-stream      Ask for the whole answer at once (the path STREAMING_RESPONSE=false takes)
  --prompt TEXT    The question (default: a one-line greeting)
  --timeout-ms N   Give up on a provider after N ms (default 30000)`;

const DEFAULT_PROMPT = 'Reply with one short sentence saying hello.';

interface Outcome {
  name: string;
  ttftMs: number | undefined;
  totalMs: number;
  tokensPerSecond: number | undefined;
  usage: Usage | null;
  error: string | undefined;
}

export async function checkCommand(argv: string[], config: Config): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'no-stream': { type: 'boolean', default: false },
      prompt: { type: 'string', default: DEFAULT_PROMPT },
      'timeout-ms': { type: 'string', default: '30000' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) {
    console.log(CHECK_USAGE);
    return 0;
  }
  const timeoutMs = Number(values['timeout-ms']);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
    console.error(`--timeout-ms must be a whole number of milliseconds (got "${values['timeout-ms']}").`);
    return 2;
  }
  const models = await modelsToCheck(config);
  if (models.length === 0) {
    console.error(`No language model is configured: nothing to check. ${CONFIGURE_HINT}`);
    return 1;
  }
  const streaming = !values['no-stream'];
  const secrets = (config.llm?.chain ?? []).flatMap((provider) => provider.apiKey ?? []);
  console.log(
    `Checking ${models.length} provider(s) ${streaming ? 'streaming' : 'without streaming'}: "${values.prompt}"\n`,
  );
  const outcomes: Outcome[] = [];
  for (const { name, model } of models) {
    const outcome = await checkOne(name, model, values.prompt, streaming, timeoutMs);
    await model.close?.();
    outcomes.push(outcome);
    console.log(
      `${outcome.error === undefined ? 'ok  ' : 'FAIL'} ${name}${describeOutcome(outcome, secrets)}`,
    );
  }
  console.log(`\n${table(outcomes)}`);
  const failed = outcomes.filter((outcome) => outcome.error !== undefined).length;
  console.log(
    failed === 0 ? '\nEvery provider answered.' : `\n${failed} of ${outcomes.length} provider(s) failed.`,
  );
  return failed === 0 ? 0 : 1;
}

/** The chain's providers one by one; with nothing configured, the local Ollama the server would find. */
async function modelsToCheck(config: Config): Promise<{ name: string; model: LanguageModel }[]> {
  const llm = config.llm;
  if (llm === undefined) return [];
  if (llm.chain.length > 0) {
    return llm.chain.map((provider: ProviderConfig) => ({
      name: `${provider.kind}:${provider.model}`,
      model: createAdapter(provider, llm.stallMs),
    }));
  }
  const detected = await resolveLanguageModel(llm, pino({ level: 'silent' }));
  return detected === undefined ? [] : [{ name: `${detected.provider}:${detected.model}`, model: detected }];
}

async function checkOne(
  name: string,
  model: LanguageModel,
  prompt: string,
  streaming: boolean,
  timeoutMs: number,
): Promise<Outcome> {
  const request: GenerateRequest = { messages: [{ role: 'user', content: prompt }], maxTokens: 64 };
  const signal = AbortSignal.timeout(timeoutMs);
  const startedAt = performance.now();
  let firstAt: number | undefined;
  let lastAt = startedAt;
  let deltas = 0;
  let usage: Usage | null = null;
  try {
    if (streaming) {
      await model.stream(request, {
        signal,
        onPart(part) {
          if (part.type === 'text-delta' && part.text !== '') {
            firstAt ??= performance.now();
            lastAt = performance.now();
            deltas += 1;
          } else if (part.type === 'usage') usage = part.usage;
        },
      });
    } else {
      const result = await model.generate(request, { signal });
      usage = result.usage;
      lastAt = performance.now();
    }
  } catch (error) {
    // A timeout is the signal's reason (a DOMException), not an upstream error: name it.
    const coded = signal.aborted ? undefined : toRivuletError(error);
    return {
      name,
      ttftMs: firstAt === undefined ? undefined : firstAt - startedAt,
      totalMs: performance.now() - startedAt,
      tokensPerSecond: undefined,
      usage,
      error:
        coded === undefined
          ? `TIMEOUT: no complete answer within ${timeoutMs} ms`
          : `${coded.code}: ${coded.message}${coded.detail === undefined ? '' : ` (${coded.detail})`}`,
    };
  }
  const totalMs = lastAt - startedAt;
  const tokens = usage?.outputTokens ?? deltas;
  // Streaming: the generation rate after the first token; without streaming only the whole answer's time exists.
  const spanMs = streaming && firstAt !== undefined ? lastAt - firstAt : totalMs;
  return {
    name,
    ttftMs: firstAt === undefined ? undefined : firstAt - startedAt,
    totalMs,
    tokensPerSecond: spanMs > 0 && tokens > 1 ? (tokens * 1000) / spanMs : undefined,
    usage,
    error: undefined,
  };
}

/** The line printed as each provider is done; any key an upstream echoed back is masked. */
function describeOutcome(outcome: Outcome, secrets: readonly string[]): string {
  if (outcome.error === undefined) {
    return ` (first token ${formatNumber(outcome.ttftMs, 0)} ms, ${formatNumber(outcome.tokensPerSecond, 1)} tokens/s)`;
  }
  let text = redactSecrets(outcome.error);
  for (const secret of secrets) if (secret.length > 0) text = text.split(secret).join('[redacted]');
  return `\n     ${text}`;
}

function table(outcomes: readonly Outcome[]): string {
  return markdownTable(
    ['provider', 'result', 'TTFT ms', 'total ms', 'tokens/s', 'input tokens', 'output tokens'],
    outcomes.map((outcome) => [
      outcome.name,
      outcome.error === undefined ? 'ok' : (outcome.error.split(':')[0] ?? 'failed'),
      formatNumber(outcome.ttftMs, 0),
      formatNumber(outcome.totalMs, 0),
      formatNumber(outcome.tokensPerSecond, 1),
      outcome.usage === null
        ? 'n/a'
        : `${outcome.usage.inputTokens}${outcome.usage.estimated ? ' (est.)' : ''}`,
      outcome.usage === null ? 'n/a' : String(outcome.usage.outputTokens),
    ]),
  );
}
