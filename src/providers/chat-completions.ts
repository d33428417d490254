// OpenAI Chat Completions wire format: OpenAI, Azure OpenAI, Azure AI model inference (Meta Llama and other
// Foundry models), and any compatible server (vLLM, llama.cpp server, LM Studio, Ollama's /v1).

import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { Agent, type Dispatcher } from 'undici';
import { RivuletError } from '../core/errors.ts';
import type { FinishReason, Usage } from '../core/events.ts';
import type {
  GenerateRequest,
  GenerateResult,
  LanguageModel,
  StreamOptions,
  StreamPart,
} from '../core/provider.ts';
import { postToProvider, readJson, type ResponseBody } from './provider-http.ts';
import { errorForNetworkFailure } from './upstream-errors.ts';

/** Where and how to call one Chat Completions deployment; built by the functions in chat-completions-endpoints.ts. */
export interface ChatCompletionsEndpoint {
  /** Name reported in `start` events, logs and metrics. */
  provider: string;
  /** Model (or Azure deployment) name. */
  model: string;
  /** Full URL of the chat completions resource, query included. */
  url: string;
  /** Authentication and any provider-specific headers. */
  headers: Record<string, string>;
  /** Azure OpenAI picks the model from the deployment in the URL; the others need it in the body. */
  modelInBody: boolean;
  /** Whether the server honours `stream_options.include_usage` (otherwise usage is estimated). */
  streamUsage: boolean;
  /** No bytes from the provider for this long (before headers or between chunks) fails the call. */
  stallMs: number;
}

/** An upstream SSE event larger than this is a broken or hostile stream, not a token. */
const MAX_EVENT_BYTES = 1024 * 1024;

interface ChunkChoice {
  delta?: { content?: string | null };
  message?: { content?: string | null };
  finish_reason?: string | null;
}

interface CompletionChunk {
  choices?: ChunkChoice[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: { message?: string; code?: string | number | null } | null;
}

export class ChatCompletionsModel implements LanguageModel {
  readonly provider: string;
  readonly model: string;
  private readonly endpoint: ChatCompletionsEndpoint;
  private readonly dispatcher: Dispatcher;

  constructor(endpoint: ChatCompletionsEndpoint) {
    this.endpoint = endpoint;
    this.provider = endpoint.provider;
    this.model = endpoint.model;
    this.dispatcher = new Agent({ keepAliveTimeout: 10_000, connect: { timeout: endpoint.stallMs } });
  }

  async stream(generate: GenerateRequest, options: StreamOptions): Promise<void> {
    const body = await this.post(generate, true, options.signal);
    await consumeStream(body, options.signal, options.onPart);
  }

  async generate(generate: GenerateRequest, options: { signal: AbortSignal }): Promise<GenerateResult> {
    const body = await this.post(generate, false, options.signal);
    const completion = (await readJson(body, options.signal)) as CompletionChunk;
    const choice = completion.choices?.[0];
    const text = choice?.message?.content;
    if (typeof text !== 'string') {
      throw new RivuletError('UPSTREAM_BAD_RESPONSE', {
        detail: 'completion without choices[0].message.content',
      });
    }
    return {
      text,
      usage: mapUsage(completion.usage),
      finishReason: mapFinishReason(choice?.finish_reason ?? 'stop'),
    };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private post(generate: GenerateRequest, stream: boolean, signal: AbortSignal): Promise<ResponseBody> {
    const { endpoint } = this;
    return postToProvider({
      url: endpoint.url,
      headers: { accept: stream ? 'text/event-stream' : 'application/json', ...endpoint.headers },
      body: {
        ...(endpoint.modelInBody ? { model: endpoint.model } : {}),
        messages: generate.messages,
        stream,
        ...(stream && endpoint.streamUsage ? { stream_options: { include_usage: true } } : {}),
        ...(generate.temperature === undefined ? {} : { temperature: generate.temperature }),
        ...(generate.maxTokens === undefined ? {} : { max_tokens: generate.maxTokens }),
      },
      signal,
      dispatcher: this.dispatcher,
      stallMs: endpoint.stallMs,
    });
  }
}

function mapUsage(usage: CompletionChunk['usage']): Usage | null {
  if (usage === undefined || usage === null) return null;
  return { inputTokens: usage.prompt_tokens ?? 0, outputTokens: usage.completion_tokens ?? 0 };
}

/** Feeds the response body through a real SSE parser with a buffer limit. */
function consumeStream(
  body: ResponseBody,
  signal: AbortSignal,
  onPart: (part: StreamPart) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let sawDone = false;
    let sawFinish = false;
    let sawEvent = false;
    let settled = false;
    let failure: RivuletError | undefined;

    const fail = (error: RivuletError): void => {
      if (failure !== undefined || settled) return;
      failure = error;
      body.destroy();
      reject(error);
    };

    const onEvent = (event: EventSourceMessage): void => {
      if (failure !== undefined || sawDone) return;
      const data = event.data;
      if (data === '[DONE]') {
        // The answer is complete now: a server or proxy that keeps the response open must not delay `done`.
        sawDone = true;
        settled = true;
        resolve();
        return;
      }
      sawEvent = true;
      let chunk: CompletionChunk;
      try {
        chunk = JSON.parse(data) as CompletionChunk;
      } catch {
        fail(
          new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: `unparseable chunk: ${data.slice(0, 200)}` }),
        );
        return;
      }
      if (chunk.error !== undefined && chunk.error !== null) {
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
      const usage = mapUsage(chunk.usage);
      if (usage !== null) onPart({ type: 'usage', usage });
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
      // A 2xx that carried no SSE event at all is not a stream (an HTML error page from a proxy, say).
      if (!sawEvent && !sawDone) {
        fail(new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: 'a 2xx response without any SSE event' }));
        return;
      }
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
