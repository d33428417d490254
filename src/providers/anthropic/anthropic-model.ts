// Anthropic's Messages API (/v1/messages): named SSE events, a top-level system prompt, alternating turns.

import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { Agent, type Dispatcher } from 'undici';
import { RivuletError, type ErrorCode } from '../../core/errors.ts';
import { upstreamExcerpt } from '../../core/redact.ts';
import type { FinishReason, Usage } from '../../core/events.ts';
import type {
  ChatMessage,
  GenerateRequest,
  GenerateResult,
  LanguageModel,
  StreamOptions,
} from '../../core/provider.ts';
import { readStreamingBody } from '../shared/stream-body.ts';
import { postToProvider, readJson, type ResponseBody } from '../shared/provider-http.ts';

export const ANTHROPIC_BASE_URL = 'https://api.anthropic.com';
export const ANTHROPIC_VERSION = '2023-06-01';
/** Anthropic requires max_tokens on every request; this applies when the caller sets none. */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 4096;
/** An upstream SSE event larger than this is a broken or hostile stream, not a token. */
const MAX_EVENT_BYTES = 1024 * 1024;

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

export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: string;
}

interface MessageUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
}

/** The fields Rivulet reads from any streamed event (each event's JSON repeats its name in `type`). */
interface StreamEvent {
  type?: string;
  message?: { usage?: MessageUsage | null };
  delta?: { type?: string; text?: string; stop_reason?: string | null };
  usage?: MessageUsage | null;
  error?: { type?: string; message?: string };
}

interface MessageResponse {
  content?: { type?: string; text?: string }[];
  stop_reason?: string | null;
  usage?: MessageUsage | null;
}

/**
 * Anthropic takes system prompts as one top-level field and wants turns that alternate, starting with the
 * user: system messages are joined, and consecutive turns of one role are merged.
 */
export function toAnthropicMessages(messages: readonly ChatMessage[]): {
  system: string | undefined;
  messages: AnthropicMessage[];
} {
  const system: string[] = [];
  const turns: AnthropicMessage[] = [];
  for (const message of messages) {
    if (message.role === 'system') {
      system.push(message.content);
      continue;
    }
    // Tool turns are not sent yet (tool calling for Anthropic lands with the agent loop).
    if (message.role === 'tool') continue;
    const previous = turns.at(-1);
    if (previous?.role === message.role) previous.content = `${previous.content}\n\n${message.content}`;
    else turns.push({ role: message.role, content: message.content });
  }
  // A history trimmed to fit the context can start with the assistant; the API refuses that outright.
  if (turns[0]?.role === 'assistant') turns.unshift({ role: 'user', content: '(continued)' });
  return { system: system.length === 0 ? undefined : system.join('\n\n'), messages: turns };
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
    this.dispatcher = new Agent({ keepAliveTimeout: 10_000, connect: { timeout: options.stallMs } });
  }

  async stream(generate: GenerateRequest, options: StreamOptions): Promise<void> {
    const body = await this.post(generate, true, options.signal);
    const { onPart } = options;
    let stopped = false;
    let sawEvent = false;
    let stopReason: string | null | undefined;
    let inputTokens: number | undefined;
    let outputTokens: number | undefined;

    const onEvent = (event: EventSourceMessage): void => {
      if (stopped) return;
      sawEvent = true;
      const data = parseEvent(event.data);
      switch (data.type ?? '') {
        case 'content_block_delta':
          // Only text reaches the reader; tool input and thinking deltas are not part of the answer text.
          if (
            data.delta?.type === 'text_delta' &&
            typeof data.delta.text === 'string' &&
            data.delta.text !== ''
          ) {
            onPart({ type: 'text-delta', text: data.delta.text });
          }
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
          onPart({ type: 'finish', finishReason: mapStopReason(stopReason) });
          return;
        }
        case 'error':
          throw errorForErrorType(
            data.error?.type,
            `in-stream error: ${upstreamExcerpt(JSON.stringify(data.error) ?? 'undefined', 500)}`,
          );
        default:
          // ping, content_block_start/stop, and event types added after this was written.
          return;
      }
    };
    const parser = createParser({
      onEvent,
      onError: (error) => {
        throw new RivuletError('UPSTREAM_BAD_RESPONSE', {
          detail: `SSE parse error: ${upstreamExcerpt(error.message)}`,
        });
      },
      maxBufferSize: MAX_EVENT_BYTES,
    });
    await readStreamingBody(body, options.signal, {
      feed: (text) => parser.feed(text),
      isComplete: () => stopped,
      incompleteError: () =>
        sawEvent
          ? new RivuletError('UPSTREAM_DROPPED', { detail: 'stream ended without message_stop' })
          : new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: 'a 2xx response without any SSE event' }),
    });
  }

  async generate(generate: GenerateRequest, options: { signal: AbortSignal }): Promise<GenerateResult> {
    const body = await this.post(generate, false, options.signal);
    const answer = (await readJson(body, options.signal)) as MessageResponse;
    if (!Array.isArray(answer.content)) {
      throw new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: 'message without a content array' });
    }
    const text = answer.content
      .flatMap((block) => (block.type === 'text' && typeof block.text === 'string' ? [block.text] : []))
      .join('');
    return {
      text,
      usage: toUsage(answer.usage?.input_tokens ?? undefined, answer.usage?.output_tokens ?? undefined),
      finishReason: mapStopReason(answer.stop_reason),
    };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private post(generate: GenerateRequest, stream: boolean, signal: AbortSignal): Promise<ResponseBody> {
    const { system, messages } = toAnthropicMessages(generate.messages);
    return postToProvider({
      url: this.url,
      headers: { accept: stream ? 'text/event-stream' : 'application/json', ...this.headers },
      body: {
        model: generate.model ?? this.model,
        max_tokens: generate.maxTokens ?? this.maxTokens,
        ...(system === undefined ? {} : { system }),
        messages,
        stream,
        ...(generate.temperature === undefined ? {} : { temperature: generate.temperature }),
      },
      signal,
      dispatcher: this.dispatcher,
      stallMs: generate.stallMs ?? this.stallMs,
    });
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
