// OpenAI Chat Completions wire format: OpenAI, Azure OpenAI, Azure AI model inference (Meta Llama and other
// Foundry models), and any compatible server (vLLM, llama.cpp server, LM Studio, Ollama's /v1).

import type { EventSourceMessage } from 'eventsource-parser';
import type { Dispatcher } from 'undici';
import { providerAgent } from '../shared/provider-agent.ts';
import { RivuletError } from '../../core/errors.ts';
import { upstreamExcerpt } from '../../core/redact.ts';
import type { FinishReason, Usage } from '../../core/events.ts';
import type {
  GenerateRequest,
  GenerateResult,
  LanguageModel,
  StreamOptions,
  StreamPart,
} from '../../core/provider.ts';
import { tokenChunkText } from './completion-chunk.ts';
import { requestJson, type ProviderRequest } from '../shared/provider-http.ts';
import { streamFromProvider, upstreamSseParser, type StreamingBodyHandler } from '../shared/stream-body.ts';
import { functionTools } from '../shared/tool-calls.ts';
import {
  toChatCompletionsMessages,
  ToolCallAssembler,
  toolCallsFromMessage,
  type ToolCallDelta,
  type WholeToolCall,
} from './tool-calls.ts';

/** Where and how to call one Chat Completions deployment; built by the functions in chat-completions-endpoints.ts (this folder). */
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

interface ChunkChoice {
  delta?: { content?: string | null; tool_calls?: ToolCallDelta[] | null };
  message?: { content?: string | null; tool_calls?: WholeToolCall[] | null };
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
    this.dispatcher = providerAgent(endpoint.stallMs);
  }

  async stream(generate: GenerateRequest, options: StreamOptions): Promise<void> {
    await streamFromProvider(this.request(generate, true, options.signal), streamHandler(options.onPart));
  }

  async generate(generate: GenerateRequest, options: { signal: AbortSignal }): Promise<GenerateResult> {
    const completion = (await requestJson(this.request(generate, false, options.signal))) as CompletionChunk;
    const choice = completion.choices?.[0];
    const toolCalls = toolCallsFromMessage(choice?.message?.tool_calls);
    const content = choice?.message?.content;
    // A turn that only calls tools has content null.
    const text = typeof content !== 'string' && toolCalls.length > 0 ? '' : content;
    if (typeof text !== 'string') {
      throw new RivuletError('UPSTREAM_BAD_RESPONSE', {
        detail: 'completion without choices[0].message.content',
      });
    }
    const finishReason = mapFinishReason(choice?.finish_reason ?? 'stop');
    if (toolCalls.length === 0) return { text, usage: mapUsage(completion.usage), finishReason };
    return {
      text,
      toolCalls,
      usage: mapUsage(completion.usage),
      finishReason: finishReason === 'stop' ? 'tool-calls' : finishReason,
    };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private request(generate: GenerateRequest, stream: boolean, signal: AbortSignal): ProviderRequest {
    const { endpoint } = this;
    return {
      url: endpoint.url,
      headers: { accept: stream ? 'text/event-stream' : 'application/json', ...endpoint.headers },
      body: {
        // Azure OpenAI names its deployment in the URL, so a per-chatbot model cannot apply there.
        ...(endpoint.modelInBody ? { model: generate.model ?? endpoint.model } : {}),
        messages: toChatCompletionsMessages(generate.messages),
        ...(generate.tools !== undefined && generate.tools.length > 0
          ? { tools: functionTools(generate.tools) }
          : {}),
        stream,
        ...(stream && endpoint.streamUsage ? { stream_options: { include_usage: true } } : {}),
        ...(generate.temperature === undefined ? {} : { temperature: generate.temperature }),
        ...(generate.maxTokens === undefined ? {} : { max_tokens: generate.maxTokens }),
      },
      signal,
      dispatcher: this.dispatcher,
      stallMs: generate.stallMs ?? endpoint.stallMs,
    };
  }
}

function mapUsage(usage: CompletionChunk['usage']): Usage | null {
  if (usage === undefined || usage === null) return null;
  return { inputTokens: usage.prompt_tokens ?? 0, outputTokens: usage.completion_tokens ?? 0 };
}

/** Reads the streamed body through a real SSE parser with a buffer limit. */
function streamHandler(onPart: (part: StreamPart) => void): StreamingBodyHandler {
  let sawDone = false;
  let sawFinish = false;
  let sawEvent = false;
  // Created by the first tool call piece: a plain answer never touches it.
  let toolCalls: ToolCallAssembler | undefined;

  const onEvent = (event: EventSourceMessage): void => {
    if (sawDone) return;
    const data = event.data;
    if (data === '[DONE]') {
      sawDone = true;
      // A server that never sent a finish reason: its calls are complete all the same.
      if (toolCalls?.pending === true) {
        toolCalls.complete();
        onPart({ type: 'finish', finishReason: 'tool-calls' });
      }
      return;
    }
    sawEvent = true;
    // Nearly every chunk is one token: read its text without building the chunk object.
    const token = tokenChunkText(data);
    if (token !== undefined) {
      if (token.length > 0) onPart({ type: 'text-delta', text: token });
      return;
    }
    let chunk: CompletionChunk;
    try {
      chunk = JSON.parse(data) as CompletionChunk;
    } catch {
      throw new RivuletError('UPSTREAM_BAD_RESPONSE', {
        detail: `unparseable chunk: ${upstreamExcerpt(data)}`,
      });
    }
    if (chunk.error !== undefined && chunk.error !== null) {
      throw new RivuletError('UPSTREAM_UNAVAILABLE', {
        // Fix: the error object went to the log whole; providers echo keys in it like in HTTP error bodies.
        detail: `in-stream error: ${upstreamExcerpt(JSON.stringify(chunk.error), 500)}`,
      });
    }
    const choice = chunk.choices?.[0];
    if (choice !== undefined) {
      const delta = choice.delta;
      if (delta !== undefined) {
        const content = delta.content;
        if (typeof content === 'string' && content.length > 0) onPart({ type: 'text-delta', text: content });
        const calls = delta.tool_calls;
        if (calls !== undefined && calls !== null && calls.length > 0) {
          toolCalls ??= new ToolCallAssembler(onPart);
          toolCalls.add(calls);
        }
      }
      if (typeof choice.finish_reason === 'string') {
        sawFinish = true;
        let finishReason = mapFinishReason(choice.finish_reason);
        if (toolCalls?.pending === true) {
          // Calls cut by the token limit or a filter are half calls: they never become `tool-call` parts.
          if (finishReason === 'stop' || finishReason === 'tool-calls' || finishReason === 'other') {
            toolCalls.complete();
            // Some compatible servers say `stop` after tool calls.
            finishReason = 'tool-calls';
          } else {
            toolCalls.abandon();
          }
        }
        onPart({ type: 'finish', finishReason });
      }
    }
    const usage = mapUsage(chunk.usage);
    if (usage !== null) onPart({ type: 'usage', usage });
  };

  const parser = upstreamSseParser(onEvent);

  return {
    feed: (text) => parser.feed(text),
    // [DONE] completes the answer at once: a server or proxy that keeps the response open must not delay `done`.
    isComplete: () => sawDone,
    // Some compatible servers end after the finish reason without [DONE]; the answer is whole then too.
    wholeAtEnd: () => sawDone || sawFinish,
    incompleteError: () =>
      sawEvent
        ? new RivuletError('UPSTREAM_DROPPED', { detail: 'stream ended without [DONE]' })
        : new RivuletError('UPSTREAM_BAD_RESPONSE', { detail: 'a 2xx response without any SSE event' }),
  };
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
