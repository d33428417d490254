// Anthropic's Messages API (/v1/messages): named SSE events, a top-level system prompt, alternating turns.

import type { EventSourceMessage } from 'eventsource-parser';
import type { Dispatcher } from 'undici';
import { providerAgent } from '../shared/provider-agent.ts';
import { RivuletError, type ErrorCode } from '../../core/errors.ts';
import { upstreamExcerpt } from '../../core/redact.ts';
import type { FinishReason, Usage } from '../../core/events.ts';
import type { GenerateRequest, GenerateResult, LanguageModel, StreamOptions } from '../../core/provider.ts';
import { streamFromProvider, upstreamSseParser } from '../shared/stream-body.ts';
import { requestJson, type ProviderRequest } from '../shared/provider-http.ts';
import { anthropicTools, toAnthropicMessages, toolCallsFromContent, ToolUseBlocks } from './tool-calls.ts';

export const ANTHROPIC_BASE_URL = 'https://api.anthropic.com';
export const ANTHROPIC_VERSION = '2023-06-01';
/** Anthropic requires max_tokens on every request; this applies when the caller sets none. */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 4096;
export interface AnthropicOptions {
  apiKey: string;
  model: string;
  /** No bytes from the provider for this long (before headers or between events) fails the call. */
  stallMs: number;
  baseUrl?: string | undefined;
  /** The `anthropic-version` header. */
  version?: string | undefined;
  /** max_tokens when the request sets none. */
  maxTokens?: number | undefined;
}

interface MessageUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
}

/** The fields Rivulet reads from any streamed event (each event's JSON repeats its name in `type`). */
interface StreamEvent {
  type?: string;
  index?: number;
  message?: { usage?: MessageUsage | null };
  content_block?: { type?: string; id?: string; name?: string; input?: unknown };
  delta?: { type?: string; text?: string; partial_json?: string; stop_reason?: string | null };
  usage?: MessageUsage | null;
  error?: { type?: string; message?: string };
}

interface MessageResponse {
  content?: { type?: string; text?: string; id?: string; name?: string; input?: unknown }[];
  stop_reason?: string | null;
  usage?: MessageUsage | null;
}

export class AnthropicModel implements LanguageModel {
  readonly provider = 'anthropic';
  readonly model: string;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly stallMs: number;
  private readonly maxTokens: number;
  private readonly dispatcher: Dispatcher;

  constructor(options: AnthropicOptions) {
    this.model = options.model;
    const base = (options.baseUrl ?? ANTHROPIC_BASE_URL).replace(/\/+$/, '');
    this.url = `${base.endsWith('/v1') ? base : `${base}/v1`}/messages`;
    this.headers = { 'x-api-key': options.apiKey, 'anthropic-version': options.version ?? ANTHROPIC_VERSION };
    this.stallMs = options.stallMs;
    this.maxTokens = options.maxTokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS;
    this.dispatcher = providerAgent(options.stallMs);
  }

  async stream(generate: GenerateRequest, options: StreamOptions): Promise<void> {
    const { onPart } = options;
    let stopped = false;
    let sawEvent = false;
    let stopReason: string | null | undefined;
    let inputTokens: number | undefined;
    let outputTokens: number | undefined;
    // Created by the first tool_use block: a plain answer never touches it.
    let toolUse: ToolUseBlocks | undefined;

    const onEvent = (event: EventSourceMessage): void => {
      if (stopped) return;
      sawEvent = true;
      const data = parseEvent(event.data);
      switch (data.type ?? '') {
        case 'content_block_delta': {
          // Text is the answer; tool input goes to its call; thinking deltas are neither.
          const delta = data.delta;
          if (delta?.type === 'text_delta') {
            if (typeof delta.text === 'string' && delta.text !== '')
              onPart({ type: 'text-delta', text: delta.text });
          } else if (delta?.type === 'input_json_delta' && typeof delta.partial_json === 'string') {
            toolUse?.delta(data.index ?? -1, delta.partial_json);
          }
          return;
        }
        case 'content_block_start': {
          const block = data.content_block;
          if (block?.type !== 'tool_use') return;
          if (typeof block.id !== 'string' || typeof block.name !== 'string' || block.name === '') {
            throw new RivuletError('UPSTREAM_BAD_RESPONSE', {
              detail: 'a tool_use block without an id or a name',
            });
          }
          toolUse ??= new ToolUseBlocks(onPart);
          toolUse.start(data.index ?? -1, block.id, block.name, block.input);
          return;
        }
        case 'content_block_stop':
          toolUse?.stop(data.index ?? -1);
          return;
        case 'message_start':
          inputTokens = data.message?.usage?.input_tokens ?? inputTokens;
          outputTokens = data.message?.usage?.output_tokens ?? outputTokens;
          return;
        case 'message_delta':
          stopReason = data.delta?.stop_reason ?? stopReason;
          // message_delta counts are cumulative, so the last one wins.
          inputTokens = data.usage?.input_tokens ?? inputTokens;
          outputTokens = data.usage?.output_tokens ?? outputTokens;
          return;
        case 'message_stop': {
          stopped = true;
          const usage = toUsage(inputTokens, outputTokens);
          if (usage !== null) onPart({ type: 'usage', usage });
          const finishReason = mapStopReason(stopReason);
          // Complete calls go out with the finish; a call cut by max_tokens is a half call and never does.
          const called = toolUse?.complete(finishReason === 'length') === true;
          onPart({
            type: 'finish',
            finishReason: called && finishReason === 'other' ? 'tool-calls' : finishReason,
          });
          return;
        }
        case 'error':
          throw errorForErrorType(
            data.error?.type,
            `in-stream error: ${upstreamExcerpt(JSON.stringify(data.error) ?? 'undefined', 500)}`,
          );
        default:
          // ping, and event types added after this was written.
          return;
      }
    };
    const parser = upstreamSseParser(onEvent);
    await streamFromProvider(this.request(generate, true, options.signal), {
      feed: (text) => parser.feed(text),
      isComplete: () => stopped,
      incompleteError: () =>
        sawEvent
          ? new RivuletError('UPSTREAM_DROPPED', { detail: 'stream ended without message_stop' })
          : new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: 'a 2xx response without any SSE event' }),
    });
  }

  async generate(generate: GenerateRequest, options: { signal: AbortSignal }): Promise<GenerateResult> {
    const answer = (await requestJson(this.request(generate, false, options.signal))) as MessageResponse;
    if (!Array.isArray(answer.content)) {
      throw new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: 'message without a content array' });
    }
    const text = answer.content
      .flatMap((block) => (block.type === 'text' && typeof block.text === 'string' ? [block.text] : []))
      .join('');
    const usage = toUsage(answer.usage?.input_tokens ?? undefined, answer.usage?.output_tokens ?? undefined);
    const finishReason = mapStopReason(answer.stop_reason);
    const toolCalls = toolCallsFromContent(answer.content);
    if (toolCalls.length === 0 || finishReason === 'length') return { text, usage, finishReason };
    return { text, toolCalls, usage, finishReason: finishReason === 'other' ? 'tool-calls' : finishReason };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private request(generate: GenerateRequest, stream: boolean, signal: AbortSignal): ProviderRequest {
    const { system, messages } = toAnthropicMessages(generate.messages);
    return {
      url: this.url,
      headers: { accept: stream ? 'text/event-stream' : 'application/json', ...this.headers },
      body: {
        model: generate.model ?? this.model,
        max_tokens: generate.maxTokens ?? this.maxTokens,
        ...(system === undefined ? {} : { system }),
        messages,
        ...(generate.tools !== undefined && generate.tools.length > 0
          ? { tools: anthropicTools(generate.tools) }
          : {}),
        stream,
        ...(generate.temperature === undefined ? {} : { temperature: generate.temperature }),
      },
      signal,
      dispatcher: this.dispatcher,
      stallMs: generate.stallMs ?? this.stallMs,
    };
  }
}

function parseEvent(data: string): StreamEvent {
  try {
    const event = JSON.parse(data) as unknown;
    if (typeof event === 'object' && event !== null) return event;
  } catch {
    // Reported below, with the same code as a non-object.
  }
  throw new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: `unparseable event: ${upstreamExcerpt(data)}` });
}

function toUsage(inputTokens: number | undefined, outputTokens: number | undefined): Usage | null {
  if (inputTokens === undefined && outputTokens === undefined) return null;
  return { inputTokens: inputTokens ?? 0, outputTokens: outputTokens ?? 0 };
}

/** The error `type` Anthropic sends mid-stream says what its HTTP status would have said. */
const CODES_BY_ERROR_TYPE = new Map<string, ErrorCode>([
  ['rate_limit_error', 'UPSTREAM_RATE_LIMITED'],
  ['overloaded_error', 'UPSTREAM_UNAVAILABLE'],
  ['api_error', 'UPSTREAM_UNAVAILABLE'],
  ['timeout_error', 'UPSTREAM_TIMEOUT'],
  ['authentication_error', 'UPSTREAM_AUTH_FAILED'],
  ['permission_error', 'UPSTREAM_AUTH_FAILED'],
  ['invalid_request_error', 'UPSTREAM_BAD_REQUEST'],
  ['not_found_error', 'UPSTREAM_BAD_REQUEST'],
  ['request_too_large', 'UPSTREAM_BAD_REQUEST'],
]);

function errorForErrorType(type: string | undefined, detail: string): RivuletError {
  return new RivuletError(CODES_BY_ERROR_TYPE.get(type ?? '') ?? 'UPSTREAM_UNAVAILABLE', { detail });
}

function mapStopReason(reason: string | null | undefined): FinishReason {
  switch (reason ?? '') {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
      return 'length';
    case 'tool_use':
      return 'tool-calls';
    case 'refusal':
      return 'content-filter';
    default:
      return 'other';
  }
}
