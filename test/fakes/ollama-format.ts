// Ollama's native wire format for the fake upstream: NDJSON /api/chat, the /api/tags listing, {"error"} bodies.

import { performance } from 'node:perf_hooks';
import { FAKE_EMBEDDING_DIMENSIONS, ollamaEmbeddingsWire } from './embeddings-format.ts';
import {
  functionToolNames,
  isRecord,
  tokenLimit,
  type AnswerContext,
  type FakeToolResult,
  type ToolTurns,
  type ErrorOverrides,
  type Refusal,
  type StreamEncoder,
  type WireFormat,
} from './wire-format.ts';

/** One installed model as /api/tags lists it. */
export interface OllamaModelInfo {
  /** With its tag, like Ollama lists it: 'llama3.2:latest'. */
  name: string;
  family?: string;
  parameterSize?: string;
  /** Bytes on disk. */
  size?: number;
}

/** A chat model and an embedding model, which is what a typical local install holds. */
export const DEFAULT_OLLAMA_MODELS: readonly OllamaModelInfo[] = [
  { name: 'llama3.2:latest', family: 'llama', parameterSize: '3.2B', size: 2_019_393_189 },
  { name: 'nomic-embed-text:latest', family: 'nomic-bert', parameterSize: '137M', size: 274_302_450 },
];

/** Ollama resolves a bare name to its `latest` tag. */
function withTag(name: string): string {
  return name.includes(':') ? name : `${name}:latest`;
}

function tagsBody(models: readonly OllamaModelInfo[]): string {
  return JSON.stringify({
    models: models.map((model, index) => ({
      name: model.name,
      model: model.name,
      modified_at: '2025-05-10T08:06:48.639712648-07:00',
      size: model.size ?? 1_000_000_000,
      digest: index.toString(16).padStart(64, 'a'),
      details: {
        parent_model: '',
        format: 'gguf',
        family: model.family ?? 'llama',
        families: [model.family ?? 'llama'],
        parameter_size: model.parameterSize ?? '1B',
        quantization_level: 'Q4_K_M',
      },
    })),
  });
}

function messageFor(status: number, overrides: ErrorOverrides, model: string): string {
  if (overrides.message !== undefined) return overrides.message;
  if (status === 404) return `model "${model}" not found, try pulling it first`;
  if (status === 429) return 'server busy, please try again.  maximum pending requests exceeded';
  if (status >= 500) return 'an error was encountered while running the model: unexpected EOF';
  return `request failed with status ${status}`;
}

/** Durations are nanoseconds; the fake splits the elapsed time roughly like a warm model would. */
function finalStatistics(context: AnswerContext, completionTokens: number): string {
  const totalNanoseconds = Math.round((performance.now() - context.startedAt) * 1_000_000);
  return `"total_duration":${totalNanoseconds},"load_duration":${Math.round(totalNanoseconds / 100)},"prompt_eval_count":${context.promptTokens},"prompt_eval_duration":${Math.round(totalNanoseconds / 10)},"eval_count":${completionTokens},"eval_duration":${Math.round((totalNanoseconds * 8) / 10)}`;
}

/** Ollama's calls: no ids (unless the scenario gives one), arguments as an object, all of one turn together. */
function toolCallsJson(context: AnswerContext): string {
  return JSON.stringify(
    context.toolCalls.map((call) => ({
      ...(call.id === undefined ? {} : { id: call.id }),
      function: { name: call.name, arguments: call.arguments },
    })),
  );
}

function toolTurns(body: Record<string, unknown>): ToolTurns {
  const turns: ToolTurns = { tools: functionToolNames(body.tools), results: [], calls: [], callTurns: 0 };
  for (const message of Array.isArray(body.messages) ? (body.messages as unknown[]) : []) {
    if (!isRecord(message)) continue;
    if (message.role === 'tool') {
      const result: FakeToolResult = { content: typeof message.content === 'string' ? message.content : '' };
      if (typeof message.tool_name === 'string') result.name = message.tool_name;
      turns.results.push(result);
    } else if (message.role === 'assistant' && Array.isArray(message.tool_calls)) {
      if (message.tool_calls.length > 0) turns.callTurns += 1;
      for (const call of message.tool_calls as unknown[]) {
        const fn = isRecord(call) && isRecord(call.function) ? call.function : undefined;
        if (typeof fn?.name === 'string')
          turns.calls.push({ name: fn.name, inputText: JSON.stringify(fn.arguments) });
      }
    }
  }
  return turns;
}

function streamEncoder(context: AnswerContext): StreamEncoder {
  const model = JSON.stringify(context.model);
  const lineHead = `{"model":${model},"created_at":"`;
  const contentHead = '","message":{"role":"assistant","content":';
  return {
    head: [],
    token: (tokenJson) => `${lineHead}${new Date().toISOString()}${contentHead}${tokenJson}},"done":false}\n`,
    tail: (completionTokens) => [
      `${lineHead}${new Date().toISOString()}${contentHead}""},"done":true,"done_reason":${JSON.stringify(context.finishReason ?? 'stop')},${finalStatistics(context, completionTokens)}}\n`,
    ],
    // Ollama sends a turn's calls whole, in one line with empty content.
    toolChunks: () => [
      `${lineHead}${new Date().toISOString()}","message":{"role":"assistant","content":"","tool_calls":${toolCallsJson(context)}},"done":false}\n`,
    ],
    malformed: '{not json\n',
    error: (status) => `${JSON.stringify({ error: messageFor(status, {}, context.model) })}\n`,
  };
}

export function createOllamaFormat(
  models: readonly OllamaModelInfo[],
  embeddingDimensions = FAKE_EMBEDDING_DIMENSIONS,
): WireFormat {
  const installed = new Set(models.map((model) => withTag(model.name)));
  return {
    handlesChat: (path) => path === '/api/chat',
    embeddings: ollamaEmbeddingsWire(embeddingDimensions, (model) => installed.has(withTag(model))),
    listing: { path: '/api/tags', body: tagsBody(models) },
    // A local Ollama has no authentication.
    refuseHeaders: () => undefined,
    refuseBody: (body): Refusal | undefined => {
      if (typeof body.model !== 'string' || body.model === '') {
        return { status: 400, overrides: { message: 'model is required' } };
      }
      if (!installed.has(withTag(body.model))) return { status: 404, overrides: {} };
      if (!Array.isArray(body.messages))
        return { status: 400, overrides: { message: 'messages is required' } };
      return undefined;
    },
    // Ollama streams unless told not to.
    wantsStream: (body) => body.stream !== false,
    // options.num_predict; Ollama reads -1 (and -2) as "no limit".
    maxTokens: (body) => (isRecord(body.options) ? tokenLimit(body.options.num_predict) : undefined),
    lengthReason: 'length',
    // Ollama ends a turn that called tools with `stop`.
    toolCallsReason: 'stop',
    toolTurns,
    streamContentType: 'application/x-ndjson',
    streamEncoder,
    wholeAnswer: (context, text, completionTokens) =>
      `{"model":${JSON.stringify(context.model)},"created_at":"${new Date().toISOString()}","message":{"role":"assistant","content":${JSON.stringify(text)}${context.toolCalls.length === 0 ? '' : `,"tool_calls":${toolCallsJson(context)}`}},"done":true,"done_reason":${JSON.stringify(context.finishReason ?? 'stop')},${finalStatistics(context, completionTokens)}}`,
    errorBody: (status, overrides, model) => JSON.stringify({ error: messageFor(status, overrides, model) }),
  };
}
