// Ollama's native chat API (/api/chat, NDJSON lines) and its model listing, for local models.

import type { Dispatcher } from 'undici';
import { providerAgent } from '../shared/provider-agent.ts';
import { RivuletError } from '../../core/errors.ts';
import type { FinishReason, Usage } from '../../core/events.ts';
import type { GenerateRequest, GenerateResult, LanguageModel, StreamOptions } from '../../core/provider.ts';
import { createLineSplitter } from '../shared/ndjson-lines.ts';
import { streamFromProvider } from '../shared/stream-body.ts';
import { requestJson, type ProviderRequest } from '../shared/provider-http.ts';
import { upstreamExcerpt } from '../../core/redact.ts';
import { functionTools } from '../shared/tool-calls.ts';
import { OllamaToolCalls, toOllamaMessages, type OllamaToolCall } from './tool-calls.ts';

export const OLLAMA_DEFAULT_HOST = 'http://127.0.0.1:11434';
const OLLAMA_DEFAULT_PORT = '11434';
/** An NDJSON line longer than this is a broken or hostile stream, not a token. */
const MAX_LINE_CHARS = 1024 * 1024;
const DEFAULT_LISTING_TIMEOUT_MS = 10_000;

export interface OllamaOptions {
  /** OLLAMA_HOST style: "127.0.0.1:11434", "0.0.0.0", "http://gpu-box:11434", "https://proxy/ollama". */
  host?: string | undefined;
  model: string;
  /** No bytes from Ollama for this long (before headers or between lines) fails the call. */
  stallMs: number;
  provider?: 'ollama';
}

/** One line of /api/chat, or its whole non-streaming answer. */
interface ChatLine {
  message?: { content?: string | null; tool_calls?: OllamaToolCall[] | null } | null;
  done?: boolean;
  done_reason?: string;
  prompt_eval_count?: number;
  eval_count?: number;
  error?: string | null;
}

/**
 * Resolves a host the way the Ollama CLI reads OLLAMA_HOST: without a scheme it is plain HTTP on port 11434;
 * with one, the scheme's own default port applies; an empty host means the local machine.
 */
export function ollamaBaseUrl(host: string | undefined): string {
  const trimmed = host?.trim() ?? '';
  if (trimmed === '') return OLLAMA_DEFAULT_HOST;
  const hasScheme = trimmed.includes('://');
  const withScheme = hasScheme
    ? trimmed
    : `http://${trimmed.startsWith(':') ? `127.0.0.1${trimmed}` : trimmed}`;
  const url = new URL(withScheme);
  if (!hasScheme && url.port === '') url.port = OLLAMA_DEFAULT_PORT;
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** Names of the models Ollama has pulled (GET /api/tags), in its own order. */
export async function listOllamaModels(
  host: string | undefined,
  signal: AbortSignal,
  timeoutMs = DEFAULT_LISTING_TIMEOUT_MS,
): Promise<string[]> {
  const listing = (await requestJson({
    url: `${ollamaBaseUrl(host)}/api/tags`,
    method: 'GET',
    headers: {},
    signal,
    stallMs: timeoutMs,
  })) as { models?: { name?: unknown }[] | null };
  if (!Array.isArray(listing.models)) {
    throw new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: '/api/tags without a models array' });
  }
  return listing.models.flatMap((model) => (typeof model.name === 'string' ? [model.name] : []));
}

/** Embedding models sit in the same listing as chat models but cannot answer a chat. */
export function isEmbeddingModel(name: string): boolean {
  return /embed|bge|minilm/i.test(name);
}

/** The first listed model that can chat, or undefined when there is none. */
export function pickChatModel(names: readonly string[]): string | undefined {
  return names.find((name) => !isEmbeddingModel(name));
}

export class OllamaModel implements LanguageModel {
  readonly provider: string;
  readonly model: string;
  private readonly url: string;
  private readonly stallMs: number;
  private readonly dispatcher: Dispatcher;

  constructor(options: OllamaOptions) {
    this.provider = options.provider ?? 'ollama';
    this.model = options.model;
    this.url = `${ollamaBaseUrl(options.host)}/api/chat`;
    this.stallMs = options.stallMs;
    this.dispatcher = providerAgent(options.stallMs);
  }

  async stream(generate: GenerateRequest, options: StreamOptions): Promise<void> {
    const { onPart } = options;
    let done = false;
    let sawLine = false;
    // Created by the first line with tool calls: a plain answer never touches it.
    let toolCalls: OllamaToolCalls | undefined;
    const splitter = createLineSplitter((line) => {
      // Anything after the final line is not part of this answer.
      if (done) return;
      sawLine = true;
      const chunk = parseLine(line);
      const message = chunk.message;
      if (message !== undefined && message !== null) {
        const content = message.content;
        if (typeof content === 'string' && content.length > 0) onPart({ type: 'text-delta', text: content });
        const calls = message.tool_calls;
        if (calls !== undefined && calls !== null && calls.length > 0) {
          toolCalls ??= new OllamaToolCalls();
          toolCalls.add(calls, onPart);
        }
      }
      if (chunk.done !== true) return;
      done = true;
      const usage = mapUsage(chunk);
      if (usage !== null) onPart({ type: 'usage', usage });
      let finishReason = mapDoneReason(chunk.done_reason);
      // Ollama says `stop` after tool calls; calls cut by num_predict are half calls and never go out complete.
      if (toolCalls !== undefined && finishReason !== 'length') {
        toolCalls.complete(onPart);
        finishReason = 'tool-calls';
      }
      onPart({ type: 'finish', finishReason });
    }, MAX_LINE_CHARS);
    await streamFromProvider(this.request(generate, true, options.signal), {
      feed: (text) => splitter.feed(text),
      flush: () => splitter.flush(),
      isComplete: () => done,
      incompleteError: () =>
        sawLine
          ? new RivuletError('UPSTREAM_DROPPED', { detail: 'stream ended without a done:true line' })
          : new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: 'a 2xx response without any NDJSON line' }),
    });
  }

  async generate(generate: GenerateRequest, options: { signal: AbortSignal }): Promise<GenerateResult> {
    const answer = (await requestJson(this.request(generate, false, options.signal))) as ChatLine;
    throwIfError(answer);
    const text = answer.message?.content;
    if (typeof text !== 'string') {
      throw new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: 'answer without message.content' });
    }
    const finishReason = mapDoneReason(answer.done_reason);
    const calls = answer.message?.tool_calls;
    if (calls === undefined || calls === null || calls.length === 0 || finishReason === 'length') {
      return { text, usage: mapUsage(answer), finishReason };
    }
    const toolCalls = new OllamaToolCalls();
    toolCalls.add(calls);
    return { text, toolCalls: toolCalls.all, usage: mapUsage(answer), finishReason: 'tool-calls' };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private request(generate: GenerateRequest, stream: boolean, signal: AbortSignal): ProviderRequest {
    const options = {
      ...(generate.temperature === undefined ? {} : { temperature: generate.temperature }),
      ...(generate.maxTokens === undefined ? {} : { num_predict: generate.maxTokens }),
    };
    return {
      url: this.url,
      headers: { accept: stream ? 'application/x-ndjson' : 'application/json' },
      body: {
        model: generate.model ?? this.model,
        messages: toOllamaMessages(generate.messages),
        ...(generate.tools !== undefined && generate.tools.length > 0
          ? { tools: functionTools(generate.tools) }
          : {}),
        // Explicit both ways: Ollama streams when `stream` is absent.
        stream,
        ...(Object.keys(options).length === 0 ? {} : { options }),
      },
      signal,
      dispatcher: this.dispatcher,
      stallMs: generate.stallMs ?? this.stallMs,
    };
  }
}

function parseLine(line: string): ChatLine {
  let chunk: unknown;
  try {
    chunk = JSON.parse(line);
  } catch {
    throw new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: `unparseable line: ${upstreamExcerpt(line)}` });
  }
  if (typeof chunk !== 'object' || chunk === null) {
    throw new RivuletError('UPSTREAM_BAD_RESPONSE', {
      detail: `line is not an object: ${upstreamExcerpt(line)}`,
    });
  }
  throwIfError(chunk);
  return chunk;
}

/** Ollama reports a failure after the 200 (the model crashed, ran out of memory) as a line with `error`. */
function throwIfError(chunk: ChatLine): void {
  if (typeof chunk.error === 'string') {
    throw new RivuletError('UPSTREAM_UNAVAILABLE', {
      detail: `in-stream error: ${upstreamExcerpt(chunk.error, 500)}`,
    });
  }
}

function mapUsage(chunk: ChatLine): Usage | null {
  if (chunk.prompt_eval_count === undefined && chunk.eval_count === undefined) return null;
  return { inputTokens: chunk.prompt_eval_count ?? 0, outputTokens: chunk.eval_count ?? 0 };
}

function mapDoneReason(reason: string | undefined): FinishReason {
  switch (reason) {
    // Older Ollama versions send no done_reason; the final line itself means the model stopped.
    case undefined:
    case 'stop':
      return 'stop';
    case 'length':
      return 'length';
    default:
      return 'other';
  }
}
