// A chain of providers behaving as one: retries before the first token, failover after it, stall detection,
// a circuit breaker, and the streaming-to-blocking fallback (STREAMING_RESPONSE).

import { setTimeout as sleep } from 'node:timers/promises';
import { RivuletError, toRivuletError } from '../core/errors.ts';
import { logContextFields, writesLevel, type Logger } from '../core/logger.ts';
import { noopObserver, type ProviderObserver } from '../core/observer.ts';
import type { ReleaseSlot } from '../core/fair-semaphore.ts';
import type { ProviderQueue } from '../core/provider-queue.ts';
import type {
  ChatMessage,
  GenerateRequest,
  GenerateResult,
  LanguageModel,
  StreamOptions,
  StreamPart,
  ToolCallRequest,
} from '../core/provider.ts';
import { retryDelay } from './shared/backoff.ts';
import { emitWholeToolCall } from './shared/tool-calls.ts';
import type { CircuitBreaker } from './shared/circuit-breaker.ts';

export interface FallbackChainOptions {
  /** Retries per provider on retryable errors, before that provider sent its first token. */
  retries: number;
  /** Backoff: full jitter over min(maxDelayMs, baseDelayMs * 2^attempt). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** No part from the provider for this long aborts the call as UPSTREAM_STALLED and fails over. */
  stallMs: number;
  /** false: call providers non-streaming and emit the answer as one token (STREAMING_RESPONSE=false). */
  streaming: boolean;
  /**
   * After the first token: true continues on the next provider from the text already sent (with a `failover`
   * part), or, when the provider failed in the middle of a tool call, restarts the step there (a `failover` part
   * with `restart`); false ends with the error, so a half answer or a half tool call never looks complete.
   */
  continueAfterFailure: boolean;
  breaker: CircuitBreaker;
  logger: Logger;
  /** Metrics: provider errors, retries and failovers. */
  observer?: ProviderObserver;
  /**
   * PROVIDER_MAX_CONCURRENT: each request to a provider holds one of that provider's slots while it is open (taken
   * right before it is sent, so a retry or a failover waits for the provider it actually calls). Absent: no limit.
   */
  queue?: ProviderQueue | undefined;
  random?: () => number;
}

/** Asked of the next provider when the previous one broke off mid-answer. */
export const CONTINUE_INSTRUCTION =
  'Your previous answer was cut off. Continue it exactly where it stopped: do not repeat any of it, do not add a preamble.';

/** Errors the caller made, not the provider: they say nothing of the provider's health. */
const CALLER_FAULTS = new Set(['UPSTREAM_BAD_REQUEST']);
/** Failures before the first token that streaming itself may cause (SSE-hostile proxies, servers refusing stream options). */
const STREAMING_SUSPECTS = new Set([
  'UPSTREAM_BAD_REQUEST',
  'UPSTREAM_BAD_RESPONSE',
  'UPSTREAM_DROPPED',
  'UPSTREAM_STALLED',
  'UPSTREAM_TIMEOUT',
]);

/** `provider:model`, the name a provider goes by in failover events, logs and the circuit breaker. */
const keyOf = (model: LanguageModel): string => `${model.provider}:${model.model}`;

export class FallbackChain implements LanguageModel {
  readonly provider: string;
  readonly model: string;
  private readonly models: readonly LanguageModel[];
  private readonly options: FallbackChainOptions;
  private readonly random: () => number;
  private readonly observer: ProviderObserver;

  constructor(models: readonly LanguageModel[], options: FallbackChainOptions) {
    const first = models[0];
    if (first === undefined) throw new Error('a fallback chain needs at least one provider');
    this.models = models;
    this.options = options;
    this.provider = first.provider;
    this.model = first.model;
    this.random = options.random ?? Math.random;
    this.observer = options.observer ?? noopObserver;
  }

  /** The request's own chain (a chatbot's `providers`), or the whole configured one. */
  private select(providers: readonly string[] | undefined): readonly LanguageModel[] {
    if (providers === undefined || providers.length === 0) return this.models;
    const chosen: LanguageModel[] = [];
    for (const name of providers) {
      for (const model of this.models) {
        if ((keyOf(model) === name || model.provider === name) && !chosen.includes(model)) chosen.push(model);
      }
    }
    return chosen.length > 0 ? chosen : this.models;
  }

  describe(request: Pick<GenerateRequest, 'model' | 'providers'>): { provider: string; model: string } {
    const first = this.select(request.providers)[0] ?? this.models[0]!;
    return { provider: first.provider, model: request.model ?? first.model };
  }

  async stream(request: GenerateRequest, options: StreamOptions): Promise<void> {
    const { signal, onPart, onProviderCall } = options;
    // The caller's copy of the text sent, or, from a caller that keeps none, the chain's own.
    let ownText = '';
    const keepsOwnText = options.textSoFar === undefined;
    const textSoFar = options.textSoFar ?? ((): string => ownText);
    let lastError: RivuletError | undefined;
    const chain = this.select(request.providers);
    // Providers whose circuit is open sit out; if every one is open, the whole chain gets a trial.
    const closed = chain.filter((model) => !this.options.breaker.isOpen(keyOf(model)));
    const consultBreaker = closed.length > 0;
    const candidates = consultBreaker ? closed : [...chain];
    // At LOG_LEVEL=info and above the debug lines of every answer are not even built: their fields are.
    const debugging = writesLevel(this.options.logger, 'debug');
    const debug = (fields: () => Record<string, unknown>, message: string): void => {
      if (debugging) this.options.logger.debug?.({ ...logContextFields(), ...fields() }, message);
    };
    if (closed.length < chain.length) {
      debug(
        () => ({
          open: chain.filter((model) => !closed.includes(model)).map(keyOf),
          trialForAll: !consultBreaker,
        }),
        consultBreaker
          ? 'circuit open: skipping providers'
          : 'every provider has an open circuit: trying the whole chain',
      );
    }

    for (let index = 0; index < candidates.length; index += 1) {
      const model = candidates[index]!;
      // Asked only right before a call: a half-open circuit grants its one trial to a call that really happens.
      const breakerBefore = this.options.breaker.state(keyOf(model));
      if (consultBreaker && !this.options.breaker.allows(keyOf(model))) {
        debug(() => ({ provider: keyOf(model) }), 'circuit open: provider skipped');
        continue;
      }
      if (breakerBefore === 'half-open')
        debug(() => ({ provider: keyOf(model) }), 'circuit half-open: trial call');
      const ownRequest = model === chain[0] ? request : withoutModel(request);
      const sent = textSoFar();
      const attemptRequest = sent === '' ? ownRequest : continuation(ownRequest, sent);
      let streaming = this.options.streaming;
      for (let attempt = 0; ; attempt += 1) {
        let sentThisAttempt = false;
        // A tool call began and the answer has not finished: a failure now cannot be continued as text.
        let inToolCall = false;
        let receivedAny = false;
        const startedAt = Date.now();
        const call = { provider: model.provider, model: model.model, attempt: attempt + 1, streaming };
        debug(() => ({ ...call, continuingAfterChars: sent.length }), 'provider request sent');
        const reportCall = (errorCode: string | undefined): void =>
          onProviderCall?.({
            provider: model.provider,
            model: model.model,
            streaming,
            startedAt,
            endedAt: Date.now(),
            errorCode,
          });
        try {
          await this.attempt(model, attemptRequest, streaming, options, (part) => {
            if (!receivedAny) {
              receivedAny = true;
              debug(() => ({ ...call, ms: Date.now() - startedAt }), 'provider first byte');
            }
            if (part.type === 'text-delta') {
              sentThisAttempt = true;
              if (keepsOwnText) ownText += part.text;
            } else if (part.type === 'tool-input-start') {
              // The reader saw the call begin: no silent retry of this provider either.
              sentThisAttempt = true;
              inToolCall = true;
            } else if (part.type === 'finish') {
              inToolCall = false;
            }
            onPart(part);
          });
          this.options.breaker.recordSuccess(keyOf(model));
          if (breakerBefore !== 'closed')
            debug(() => ({ provider: keyOf(model) }), 'circuit closed: provider answered');
          debug(
            () => ({ ...call, ms: Date.now() - startedAt, sentChars: textSoFar().length }),
            'provider call finished',
          );
          reportCall(undefined);
          return;
        } catch (caught) {
          if (signal.aborted) {
            reportCall(toRivuletError(signal.reason).code);
            throw signal.reason;
          }
          const error = toRivuletError(caught);
          // No slot came free in time: nothing was asked of the provider, so this says nothing of its health.
          if (error.code === 'PROVIDER_QUEUE_TIMEOUT') throw error;
          reportCall(error.code);
          lastError = error;
          this.observer.providerError(model.provider, error.code);
          if (!CALLER_FAULTS.has(error.code)) {
            const wasOpen = this.options.breaker.isOpen(keyOf(model));
            this.options.breaker.recordFailure(keyOf(model));
            if (!wasOpen && this.options.breaker.isOpen(keyOf(model))) {
              debug(() => ({ provider: keyOf(model), code: error.code }), 'circuit opened: provider fails');
            } else if (breakerBefore === 'half-open') {
              debug(
                () => ({ provider: keyOf(model), code: error.code }),
                'circuit stays open: trial call failed',
              );
            }
          }
          debug(
            () => ({ ...call, ms: Date.now() - startedAt, code: error.code, receivedAny }),
            'provider call failed',
          );
          const context = {
            ...logContextFields(),
            provider: model.provider,
            model: model.model,
            code: error.code,
            detail: error.detail,
          };
          if (!sentThisAttempt) {
            const delay = retryDelay(error, attempt, this.options, this.random);
            if (delay !== undefined) {
              this.options.logger.warn(
                { ...context, attempt: attempt + 1, delayMs: delay },
                'provider call failed, retrying',
              );
              this.observer.providerRetry(model.provider, error.code);
              await sleep(delay, undefined, { signal });
              continue;
            }
            if (streaming && STREAMING_SUSPECTS.has(error.code)) {
              // Streaming itself may be what breaks (a proxy, an SSE quirk): the same request, non-streaming.
              this.options.logger.warn(
                context,
                'streaming failed before the first token, retrying without streaming',
              );
              streaming = false;
              this.observer.providerRetry(model.provider, error.code);
              continue;
            }
          } else if (!this.options.continueAfterFailure) {
            throw error;
          }
          const next = candidates[index + 1];
          if (next === undefined) throw error;
          this.options.logger.warn(
            { ...context, to: next.provider, sentChars: textSoFar().length, restart: inToolCall },
            'failing over',
          );
          this.observer.providerFailover(model.provider, next.provider);
          if (inToolCall) {
            // A half tool call cannot be continued: the next provider answers the step from the start (a caller's
            // copy starts again on this part).
            ownText = '';
            onPart({
              type: 'failover',
              from: keyOf(model),
              to: keyOf(next),
              reason: error.code,
              restart: true,
            });
          } else {
            onPart({ type: 'failover', from: keyOf(model), to: keyOf(next), reason: error.code });
          }
          break;
        }
      }
    }
    throw (
      lastError ??
      new RivuletError('UPSTREAM_UNAVAILABLE', { detail: 'every provider is skipped by its circuit breaker' })
    );
  }

  async generate(request: GenerateRequest, options: { signal: AbortSignal }): Promise<GenerateResult> {
    let text = '';
    let toolCalls: ToolCallRequest[] = [];
    let result: GenerateResult = { text: '', usage: null, finishReason: 'stop' };
    await this.stream(request, {
      signal: options.signal,
      textSoFar: () => text,
      onPart: (part) => {
        if (part.type === 'text-delta') text += part.text;
        else if (part.type === 'usage') result = { ...result, usage: part.usage };
        else if (part.type === 'finish') result = { ...result, finishReason: part.finishReason };
        else if (part.type === 'tool-call') {
          toolCalls.push({ toolCallId: part.toolCallId, name: part.name, inputText: part.inputText });
        } else if (part.type === 'failover' && part.restart === true) {
          text = '';
          toolCalls = [];
        }
      },
    });
    return toolCalls.length === 0 ? { ...result, text } : { ...result, text, toolCalls };
  }

  async close(): Promise<void> {
    await Promise.all(this.models.map((model) => model.close?.() ?? Promise.resolve()));
  }

  /**
   * One call, aborted as UPSTREAM_STALLED when no part arrives for stallMs. With a provider queue it first waits for a
   * slot on this provider (its place reported to the caller as `queued` parts; the stall clock starts after). The
   * wait and the call are one async function: each suspended one holds a frame for as long as the answer streams.
   */
  private async attempt(
    model: LanguageModel,
    request: GenerateRequest,
    streaming: boolean,
    options: StreamOptions,
    onPart: (part: StreamPart) => void,
  ): Promise<void> {
    const signal = options.signal;
    const releaseSlot = await this.takeSlot(model, options);
    // The call's signal: aborted by the run's, or by the stall timer. One controller the run's abort is forwarded to,
    // not AbortSignal.any: a composite signal cost about 7 us to make and more for undici to listen to, every call.
    const attempt = new AbortController();
    const attemptSignal = attempt.signal;
    const forwardAbort = (): void => attempt.abort(signal.reason);
    if (signal.aborted) forwardAbort();
    else signal.addEventListener('abort', forwardAbort, { once: true });
    let stalled: RivuletError | undefined;
    let receivedAny = false;
    // Silence before anything arrived is a provider not answering in time; after that it stopped mid-answer. The
    // request's own limit (a chatbot's stallTimeoutMs) comes before the configured one.
    const stallMs = request.stallMs ?? this.options.stallMs;
    // A part only notes its time: re-arming a timer on every token cost more than the rest of the chain's work. The
    // timer, when it fires, looks at how long the provider has really been silent and waits out the rest.
    let lastPartAt = performance.now();
    const checkStall = (): void => {
      const silentMs = performance.now() - lastPartAt;
      if (silentMs < stallMs) {
        timer = setTimeout(checkStall, Math.max(1, Math.ceil(stallMs - silentMs)));
        return;
      }
      const detail = `no data for ${stallMs} ms`;
      stalled = new RivuletError(receivedAny ? 'UPSTREAM_STALLED' : 'UPSTREAM_TIMEOUT', { detail });
      attempt.abort(stalled);
    };
    let timer = setTimeout(checkStall, stallMs);
    try {
      if (streaming) {
        await model.stream(request, {
          signal: attemptSignal,
          onPart: (part) => {
            receivedAny = true;
            lastPartAt = performance.now();
            onPart(part);
          },
        });
        return;
      }
      const result = await model.generate(request, { signal: attemptSignal });
      if (result.text.length > 0) onPart({ type: 'text-delta', text: result.text });
      for (const call of result.toolCalls ?? []) emitWholeToolCall(call, onPart);
      if (result.usage !== null) onPart({ type: 'usage', usage: result.usage });
      onPart({ type: 'finish', finishReason: result.finishReason });
    } catch (error) {
      if (stalled !== undefined && !signal.aborted) throw stalled;
      throw error;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', forwardAbort);
      releaseSlot();
    }
  }

  private takeSlot(model: LanguageModel, options: StreamOptions): Promise<ReleaseSlot> {
    const queue = this.options.queue;
    if (queue === undefined) return Promise.resolve(() => {});
    const provider = keyOf(model);
    return queue.acquire(provider, options.requester ?? '', options.signal, (place) =>
      options.onPart({ type: 'queued', provider, ...place }),
    );
  }
}

function continuation(request: GenerateRequest, sent: string): GenerateRequest {
  const messages: ChatMessage[] = [
    ...request.messages,
    { role: 'assistant', content: sent },
    { role: 'user', content: CONTINUE_INSTRUCTION },
  ];
  return { ...request, messages };
}

/** A chatbot's model name is meant for the chain's first provider; the others answer with their own model. */
function withoutModel(request: GenerateRequest): GenerateRequest {
  if (request.model === undefined) return request;
  const { model: _model, ...rest } = request;
  return rest;
}
