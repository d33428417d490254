// The fallback chain with tool calls: a provider that fails in the middle of a tool call never leaves a half call;
// the step restarts on the next provider (or ends with the error), and whole calls pass through both paths.

import { describe, expect, it } from 'vitest';
import { RivuletError } from '../core/errors.ts';
import type {
  GenerateRequest,
  GenerateResult,
  LanguageModel,
  StreamOptions,
  StreamPart,
} from '../core/provider.ts';
import { FallbackChain, CONTINUE_INSTRUCTION } from './fallback-chain.ts';
import { CircuitBreaker } from './shared/circuit-breaker.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A provider that emits its script's parts, then fails with `failWith` or finishes. */
class ScriptedModel implements LanguageModel {
  readonly provider: string;
  readonly model = 'm';
  readonly requests: GenerateRequest[] = [];
  private readonly parts: StreamPart[];
  private readonly failWith: RivuletError | undefined;
  private readonly whole: GenerateResult | undefined;
  constructor(name: string, parts: StreamPart[], failWith?: RivuletError, whole?: GenerateResult) {
    this.provider = name;
    this.parts = parts;
    this.failWith = failWith;
    this.whole = whole;
  }
  async stream(request: GenerateRequest, options: StreamOptions): Promise<void> {
    this.requests.push(request);
    for (const part of this.parts) options.onPart(part);
    await Promise.resolve();
    if (this.failWith !== undefined) throw this.failWith;
  }
  async generate(request: GenerateRequest): Promise<GenerateResult> {
    this.requests.push(request);
    await Promise.resolve();
    if (this.whole === undefined)
      throw new RivuletError('UPSTREAM_BAD_REQUEST', { detail: 'no whole answer' });
    return this.whole;
  }
}

const chainOf = (
  models: LanguageModel[],
  options: { continueAfterFailure?: boolean; streaming?: boolean } = {},
) =>
  new FallbackChain(models, {
    retries: 2,
    baseDelayMs: 1,
    maxDelayMs: 1,
    stallMs: 5_000,
    streaming: options.streaming ?? true,
    continueAfterFailure: options.continueAfterFailure ?? true,
    breaker: new CircuitBreaker({ failureThreshold: 5, cooldownMs: 60_000 }),
    logger: quiet,
  });

const REQUEST: GenerateRequest = {
  messages: [{ role: 'user', content: 'What is the refund policy?' }],
  tools: [{ name: 'search_documents', description: 'Search', inputSchema: { type: 'object' } }],
};
const dropped = () => new RivuletError('UPSTREAM_DROPPED', { detail: 'cut' });

const halfCall: StreamPart[] = [
  { type: 'text-delta', text: 'Let me search. ' },
  { type: 'tool-input-start', toolCallId: 'a1', name: 'search_documents' },
  { type: 'tool-input-delta', toolCallId: 'a1', delta: '{"query":"ref' },
];
const wholeCall: StreamPart[] = [
  { type: 'tool-input-start', toolCallId: 'b1', name: 'search_documents' },
  { type: 'tool-input-delta', toolCallId: 'b1', delta: '{"query":"refunds"}' },
  { type: 'tool-call', toolCallId: 'b1', name: 'search_documents', inputText: '{"query":"refunds"}' },
  { type: 'finish', finishReason: 'tool-calls' },
];

async function run(chain: FallbackChain): Promise<StreamPart[]> {
  const parts: StreamPart[] = [];
  await chain.stream(REQUEST, { signal: new AbortController().signal, onPart: (part) => parts.push(part) });
  return parts;
}

/** A drops mid tool call (a restart), B mid text (a continuation), C finishes. */
const restartThenTextDrop = (): [ScriptedModel, ScriptedModel, ScriptedModel] => [
  new ScriptedModel('a', halfCall, dropped()),
  new ScriptedModel('b', [{ type: 'text-delta', text: 'Refunds take ' }], dropped()),
  new ScriptedModel('c', [
    { type: 'text-delta', text: '14 days.' },
    { type: 'finish', finishReason: 'stop' },
  ]),
];

describe('a failure in the middle of a tool call', () => {
  it('restarts the step on the next provider: a failover part with restart, then its whole answer to the original request', async () => {
    const a = new ScriptedModel('a', halfCall, dropped());
    const b = new ScriptedModel('b', wholeCall);
    const parts = await run(chainOf([a, b]));
    expect(parts).toEqual([
      ...halfCall,
      { type: 'failover', from: 'a:m', to: 'b:m', reason: 'UPSTREAM_DROPPED', restart: true },
      ...wholeCall,
    ]);
    // No continuation prefix: the next provider answers the step from the start, tools included.
    expect(b.requests).toEqual([REQUEST]);
    // The reader saw the call begin, so the failing provider is not silently retried either.
    expect(a.requests).toHaveLength(1);
    // No tool-call part before the failover: the half call a1 is abandoned.
    expect(parts.slice(0, 4).some((part) => part.type === 'tool-call')).toBe(false);
  });

  it('ends with the error when continuing after a failure is off, without any tool-call part', async () => {
    const parts: StreamPart[] = [];
    const chain = chainOf([new ScriptedModel('a', halfCall, dropped()), new ScriptedModel('b', wholeCall)], {
      continueAfterFailure: false,
    });
    await expect(
      chain.stream(REQUEST, { signal: new AbortController().signal, onPart: (part) => parts.push(part) }),
    ).rejects.toMatchObject({ code: 'UPSTREAM_DROPPED' });
    expect(parts).toEqual(halfCall);
  });

  it('ends with the error when no provider is left', async () => {
    await expect(run(chainOf([new ScriptedModel('a', halfCall, dropped())]))).rejects.toMatchObject({
      code: 'UPSTREAM_DROPPED',
    });
  });

  it('after a restart, a later text failure continues from the new provider text only', async () => {
    const [a, b, c] = restartThenTextDrop();
    const parts = await run(chainOf([a, b, c]));
    expect(parts.filter((part) => part.type === 'failover')).toEqual([
      { type: 'failover', from: 'a:m', to: 'b:m', reason: 'UPSTREAM_DROPPED', restart: true },
      { type: 'failover', from: 'b:m', to: 'c:m', reason: 'UPSTREAM_DROPPED' },
    ]);
    expect(c.requests[0]?.messages.slice(-2)).toEqual([
      { role: 'assistant', content: 'Refunds take ' },
      { role: 'user', content: CONTINUE_INSTRUCTION },
    ]);
  });

  it('a failure in plain text of a step with tools still continues the text', async () => {
    const a = new ScriptedModel('a', [{ type: 'text-delta', text: 'Refunds take ' }], dropped());
    const b = new ScriptedModel('b', [
      { type: 'text-delta', text: '14 days.' },
      { type: 'finish', finishReason: 'stop' },
    ]);
    const parts = await run(chainOf([a, b]));
    expect(parts).toContainEqual({ type: 'failover', from: 'a:m', to: 'b:m', reason: 'UPSTREAM_DROPPED' });
    expect(b.requests[0]?.tools).toEqual(REQUEST.tools);
    expect(b.requests[0]?.messages.at(-1)).toEqual({ role: 'user', content: CONTINUE_INSTRUCTION });
  });

  it("continues from the caller's copy of the text when the caller keeps one (textSoFar), restarts included", async () => {
    const [a, b, c] = restartThenTextDrop();
    // The caller's text, as an answer's recorder keeps it (a restart starts the step's text again), marked so that
    // only the caller's copy can reach the next provider.
    let text = '';
    await chainOf([a, b, c]).stream(REQUEST, {
      signal: new AbortController().signal,
      textSoFar: () => text,
      onPart: (part) => {
        if (part.type === 'text-delta') text += part.text.toUpperCase();
        if (part.type === 'failover' && part.restart === true) text = '';
      },
    });
    expect(text).toBe('REFUNDS TAKE 14 DAYS.');
    expect(c.requests[0]?.messages.slice(-2)).toEqual([
      { role: 'assistant', content: 'REFUNDS TAKE ' },
      { role: 'user', content: CONTINUE_INSTRUCTION },
    ]);
  });

  it('generate() returns the calls of the provider that finished, without the text of the abandoned attempt', async () => {
    const chain = chainOf([new ScriptedModel('a', halfCall, dropped()), new ScriptedModel('b', wholeCall)]);
    const result = await chain.generate(REQUEST, { signal: new AbortController().signal });
    expect(result).toEqual({
      text: '',
      toolCalls: [{ toolCallId: 'b1', name: 'search_documents', inputText: '{"query":"refunds"}' }],
      usage: null,
      finishReason: 'tool-calls',
    });
  });
});

describe('the non-streaming path', () => {
  it('emits a whole answer calls as start, input and call parts before the finish', async () => {
    const whole: GenerateResult = {
      text: 'Searching.',
      toolCalls: [
        { toolCallId: 'x', name: 'search_documents', inputText: '{"query":"a"}' },
        { toolCallId: 'y', name: 'fetch', inputText: '{' },
      ],
      usage: { inputTokens: 3, outputTokens: 4 },
      finishReason: 'tool-calls',
    };
    const parts = await run(chainOf([new ScriptedModel('a', [], undefined, whole)], { streaming: false }));
    expect(parts).toEqual([
      { type: 'text-delta', text: 'Searching.' },
      { type: 'tool-input-start', toolCallId: 'x', name: 'search_documents' },
      { type: 'tool-input-delta', toolCallId: 'x', delta: '{"query":"a"}' },
      { type: 'tool-call', toolCallId: 'x', name: 'search_documents', inputText: '{"query":"a"}' },
      { type: 'tool-input-start', toolCallId: 'y', name: 'fetch' },
      { type: 'tool-input-delta', toolCallId: 'y', delta: '{' },
      { type: 'tool-call', toolCallId: 'y', name: 'fetch', inputText: '{' },
      { type: 'usage', usage: { inputTokens: 3, outputTokens: 4 } },
      { type: 'finish', finishReason: 'tool-calls' },
    ]);
  });
});

/** A provider that answers nothing until its call's signal aborts, then fails with the signal's reason. */
class SilentModel implements LanguageModel {
  readonly provider = 'silent';
  readonly model = 'm';
  readonly signals: AbortSignal[] = [];
  stream(_request: GenerateRequest, options: StreamOptions): Promise<void> {
    return this.silence(options.signal);
  }
  generate(_request: GenerateRequest, options: { signal: AbortSignal }): Promise<GenerateResult> {
    return this.silence(options.signal);
  }
  private silence(signal: AbortSignal): Promise<never> {
    this.signals.push(signal);
    return new Promise((_resolve, reject) => {
      if (signal.aborted) reject(signal.reason as Error);
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
  }
}

describe('fallback chain: what ends a call', () => {
  const single = (model: LanguageModel, stallMs: number) =>
    new FallbackChain([model], {
      retries: 0,
      baseDelayMs: 1,
      maxDelayMs: 1,
      stallMs,
      streaming: true,
      continueAfterFailure: false,
      breaker: new CircuitBreaker({ failureThreshold: 5, cooldownMs: 60_000 }),
      logger: quiet,
    });

  it('stopping the answer aborts the call with the stop reason', async () => {
    const model = new SilentModel();
    const run = new AbortController();
    const stopped = new RivuletError('RUN_STOPPED');
    const call = single(model, 60_000).stream(REQUEST, { signal: run.signal, onPart: () => undefined });
    await new Promise((resolve) => setTimeout(resolve, 5));
    run.abort(stopped);
    await expect(call).rejects.toBe(stopped);
    expect(model.signals[0]?.reason).toBe(stopped);
  });

  it('an answer stopped before the call fails it at once with the stop reason', async () => {
    const model = new SilentModel();
    const run = new AbortController();
    run.abort(new RivuletError('RUN_STOPPED'));
    await expect(
      single(model, 60_000).stream(REQUEST, { signal: run.signal, onPart: () => undefined }),
    ).rejects.toMatchObject({ code: 'RUN_STOPPED' });
  });

  it('a provider silent for the stall time fails the call with UPSTREAM_TIMEOUT, not the run', async () => {
    const model = new SilentModel();
    const run = new AbortController();
    await expect(
      single(model, 20).stream(REQUEST, { signal: run.signal, onPart: () => undefined }),
    ).rejects.toMatchObject({ code: 'UPSTREAM_TIMEOUT' });
    // Streamed, then (a stall before the first token may be the streaming itself) asked once more without streaming.
    expect(model.signals.map((signal) => (signal.reason as RivuletError).code)).toEqual([
      'UPSTREAM_TIMEOUT',
      'UPSTREAM_TIMEOUT',
    ]);
    expect(run.signal.aborted).toBe(false);
  });
});
