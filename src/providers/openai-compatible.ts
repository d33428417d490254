// OpenAI Chat Completions streaming adapter: OpenAI, vLLM, llama.cpp server, LM Studio, Ollama's /v1.

import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { Agent, request, type Dispatcher } from 'undici';
import { RivuletError } from '../core/errors.ts';
import type { FinishReason } from '../core/events.ts';
import type { GenerateRequest, LanguageModel, StreamOptions, StreamPart } from '../core/provider.ts';
import { errorForNetworkFailure, errorForStatus } from './upstream-errors.ts';

export interface OpenAICompatibleOptions {
  /** Base URL including the version path, e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1. */
  baseUrl: string;
  apiKey?: string;
  model: string;
  /** No bytes from the provider for this long (before headers or between chunks) fails the call. */
  stallMs: number;
  /** Name reported in `start` events and logs. */
  provider?: string;
}

/** An upstream SSE event larger than this is a broken or hostile stream, not a token. */
const MAX_EVENT_BYTES = 1024 * 1024;
/** Error bodies are read for the log, up to this much. */
const MAX_ERROR_BODY_BYTES = 16 * 1024;

interface ChunkChoice {
  delta?: { content?: string | null };
  finish_reason?: string | null;
}

interface CompletionChunk {
  choices?: ChunkChoice[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: { message?: string; code?: string | number | null };
}

export class OpenAICompatibleModel implements LanguageModel {
  readonly provider: string;
  readonly model: string;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly dispatcher: Dispatcher;
  private readonly stallMs: number;

  constructor(options: OpenAICompatibleOptions) {
    this.provider = options.provider ?? 'openai-compatible';
    this.model = options.model;
    this.url = `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.headers = { 'content-type': 'application/json', accept: 'text/event-stream' };
    if (options.apiKey !== undefined && options.apiKey !== '') {
      this.headers.authorization = `Bearer ${options.apiKey}`;
    }
    this.stallMs = options.stallMs;
    this.dispatcher = new Agent({ keepAliveTimeout: 10_000, connect: { timeout: options.stallMs } });
  }

  async stream(generate: GenerateRequest, options: StreamOptions): Promise<void> {
    const { signal, onPart } = options;
    const body = JSON.stringify({
      model: this.model,
      messages: generate.messages,
      stream: true,
      stream_options: { include_usage: true },
      ...(generate.temperature === undefined ? {} : { temperature: generate.temperature }),
      ...(generate.maxTokens === undefined ? {} : { max_tokens: generate.maxTokens }),
    });

    let response: Dispatcher.ResponseData;
    try {
      response = await request(this.url, {
        method: 'POST',
        headers: this.headers,
        body,
        signal,
        dispatcher: this.dispatcher,
        headersTimeout: this.stallMs,
        bodyTimeout: this.stallMs,
      });
    } catch (error) {
      signal.throwIfAborted();
      throw errorForNetworkFailure(error, false);
    }

    if (response.statusCode !== 200) {
      const text = await readBounded(response.body, MAX_ERROR_BODY_BYTES);
      const retryAfter = response.headers['retry-after'];
      throw errorForStatus(response.statusCode, text, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
    }

    await consumeStream(response.body, signal, onPart);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

/** Feeds the response body through a real SSE parser with a buffer limit. */
function consumeStream(
  body: Dispatcher.ResponseData['body'],
  signal: AbortSignal,
  onPart: (part: StreamPart) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let sawDone = false;
    let sawFinish = false;
    let failure: RivuletError | undefined;

    const fail = (error: RivuletError): void => {
      if (failure !== undefined) return;
      failure = error;
      body.destroy();
      reject(error);
    };

    const onEvent = (event: EventSourceMessage): void => {
      if (failure !== undefined || sawDone) return;
      const data = event.data;
      if (data === '[DONE]') {
        sawDone = true;
        return;
      }
      let chunk: CompletionChunk;
      try {
        chunk = JSON.parse(data) as CompletionChunk;
      } catch {
        fail(
          new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: `unparseable chunk: ${data.slice(0, 200)}` }),
        );
        return;
      }
      if (chunk.error !== undefined) {
        fail(
          new RivuletError('UPSTREAM_UNAVAILABLE', {
            detail: `in-stream error: ${JSON.stringify(chunk.error)}`,
          }),
        );
        return;
      }
      const choice = chunk.choices?.[0];
      if (choice !== undefined) {
        const content = choice.delta?.content;
        if (typeof content === 'string' && content.length > 0) onPart({ type: 'text-delta', text: content });
        if (typeof choice.finish_reason === 'string') {
          sawFinish = true;
          onPart({ type: 'finish', finishReason: mapFinishReason(choice.finish_reason) });
        }
      }
      const usage = chunk.usage;
      if (usage !== undefined && usage !== null) {
        onPart({
          type: 'usage',
          usage: { inputTokens: usage.prompt_tokens ?? 0, outputTokens: usage.completion_tokens ?? 0 },
        });
      }
    };

    const parser = createParser({
      onEvent,
      onError: (error) => {
        fail(new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: `SSE parse error: ${error.message}` }));
      },
      maxBufferSize: MAX_EVENT_BYTES,
    });

    // One streaming decoder per response: a character split across TCP chunks is held until it is whole.
    const decoder = new TextDecoder('utf-8');
    body.on('data', (chunk: Buffer) => {
      if (failure !== undefined) return;
      try {
        parser.feed(decoder.decode(chunk, { stream: true }));
      } catch (error) {
        // The parser refuses input after its buffer limit; any throw here must fail the call, not the process.
        fail(
          new RivuletError('UPSTREAM_BAD_RESPONSE', {
            detail: `stream parse failure: ${String(error)}`,
            cause: error,
          }),
        );
      }
    });
    body.on('error', (error: Error) => {
      if (failure !== undefined) return;
      if (signal.aborted) {
        failure = new RivuletError('RUN_STOPPED');
        reject(signal.reason as Error);
        return;
      }
      // The answer was whole before the socket broke: losing the trailing bytes loses nothing.
      if (sawDone || sawFinish) {
        resolve();
        return;
      }
      fail(errorForNetworkFailure(error, true));
    });
    body.on('end', () => {
      if (failure !== undefined) return;
      // A stream that ends without [DONE] or a finish reason was cut: never let a half answer look complete.
      if (!sawDone && !sawFinish) {
        fail(new RivuletError('UPSTREAM_DROPPED', { detail: 'stream ended without [DONE]' }));
        return;
      }
      resolve();
    });
  });
}

function mapFinishReason(reason: string): FinishReason {
  switch (reason) {
    case 'stop':
    case 'length':
      return reason;
    case 'content_filter':
      return 'content-filter';
    case 'tool_calls':
    case 'function_call':
      return 'tool-calls';
    default:
      return 'other';
  }
}

async function readBounded(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const buffer = chunk as Buffer;
      chunks.push(buffer);
      size += buffer.length;
      if (size >= maxBytes) break;
    }
  } catch {
    // The error body is only for the log; a broken one is not worth failing differently.
  }
  body.destroy();
  return Buffer.concat(chunks).toString('utf8').slice(0, maxBytes);
}
