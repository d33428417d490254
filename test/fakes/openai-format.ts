// The OpenAI Chat Completions wire format for the fake upstream: SSE chunks, [DONE], OpenAI error bodies.

import type { IncomingHttpHeaders } from 'node:http';
import { FAKE_EMBEDDING_DIMENSIONS, openAIEmbeddingsWire } from './embeddings-format.ts';
import {
  argumentsText,
  functionToolNames,
  isRecord,
  pieces,
  tokenLimit,
  type AnswerContext,
  type FakeToolResult,
  type ToolTurns,
  type ErrorOverrides,
  type StreamEncoder,
  type WireFormat,
} from './wire-format.ts';

export const OPENAI_DEFAULT_MODEL = 'fake-model';

interface ErrorShape {
  type: string;
  code: string | null;
  message: string;
}

function errorShapeFor(status: number): ErrorShape {
  switch (status) {
    case 400:
      return { type: 'invalid_request_error', code: null, message: 'Invalid request (fake upstream).' };
    case 401:
      return {
        type: 'invalid_request_error',
        code: 'invalid_api_key',
        message: 'Incorrect API key provided (fake upstream).',
      };
    case 403:
      return { type: 'permission_error', code: null, message: 'Permission denied (fake upstream).' };
    case 404:
      return {
        type: 'invalid_request_error',
        code: 'model_not_found',
        message: 'Not found (fake upstream).',
      };
    case 429:
      return {
        type: 'rate_limit_error',
        code: 'rate_limit_exceeded',
        message: 'Rate limit reached for requests (fake upstream). Please try again later.',
      };
    default:
      if (status >= 500) {
        return {
          type: 'server_error',
          code: null,
          message: 'The server had an error while processing your request (fake upstream).',
        };
      }
      return { type: 'invalid_request_error', code: null, message: `Request failed with status ${status}.` };
  }
}

function errorObject(status: number, overrides: ErrorOverrides): string {
  const shape = errorShapeFor(status);
  return JSON.stringify({
    error: {
      message: overrides.message ?? shape.message,
      type: shape.type,
      param: overrides.param ?? null,
      code: overrides.code === undefined ? shape.code : overrides.code,
    },
  });
}

const callId = (context: AnswerContext, index: number): string =>
  context.toolCalls[index]?.id ?? `call_fake${context.requestId}_${index}`;

/**
 * OpenAI streams each call by `index`: the first piece has its id, type and name with empty arguments, the
 * following ones pieces of the arguments; several calls come one after another.
 */
function toolChunks(context: AnswerContext, head: string): string[] {
  const chunk = (toolCall: Record<string, unknown>): string =>
    `${head}[{"index":0,"delta":{"tool_calls":[${JSON.stringify(toolCall)}]},"finish_reason":null}]}\n\n`;
  return context.toolCalls.flatMap((call, index) => [
    chunk({
      index,
      id: callId(context, index),
      type: 'function',
      function: { name: call.name, arguments: '' },
    }),
    ...pieces(argumentsText(call), context.argumentChunkChars)
      .filter((piece) => piece !== '')
      .map((piece) => chunk({ index, function: { arguments: piece } })),
  ]);
}

/** The request's tools, the calls of its assistant turns and its `role: 'tool'` results. */
function toolTurns(body: Record<string, unknown>): ToolTurns {
  const turns: ToolTurns = { tools: functionToolNames(body.tools), results: [], calls: [], callTurns: 0 };
  for (const message of Array.isArray(body.messages) ? (body.messages as unknown[]) : []) {
    if (!isRecord(message)) continue;
    if (message.role === 'tool') {
      const result: FakeToolResult = { content: typeof message.content === 'string' ? message.content : '' };
      if (typeof message.tool_call_id === 'string') result.toolCallId = message.tool_call_id;
      turns.results.push(result);
    } else if (message.role === 'assistant' && Array.isArray(message.tool_calls)) {
      if (message.tool_calls.length > 0) turns.callTurns += 1;
      for (const call of message.tool_calls as unknown[]) {
        const fn = isRecord(call) && isRecord(call.function) ? call.function : undefined;
        if (fn === undefined || typeof fn.name !== 'string') continue;
        turns.calls.push({
          ...(isRecord(call) && typeof call.id === 'string' ? { toolCallId: call.id } : {}),
          name: fn.name,
          inputText: typeof fn.arguments === 'string' ? fn.arguments : '',
        });
      }
    }
  }
  return turns;
}

/** OpenAI's own rules: tools are functions with a name, and a tool message answers a call of the turn before. */
function refuseTools(body: Record<string, unknown>): string | undefined {
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return "Invalid type for 'tools': expected an array.";
    for (const [index, tool] of (body.tools as unknown[]).entries()) {
      if (!isRecord(tool) || tool.type !== 'function' || !isRecord(tool.function)) {
        return `Missing required parameter: 'tools[${index}].function'.`;
      }
      if (typeof tool.function.name !== 'string')
        return `Missing required parameter: 'tools[${index}].function.name'.`;
    }
  }
  const open = new Set<string>();
  for (const [index, message] of (body.messages as unknown[]).entries()) {
    if (!isRecord(message)) continue;
    if (message.role === 'tool') {
      if (typeof message.tool_call_id !== 'string' || !open.has(message.tool_call_id)) {
        return `Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'. (messages[${index}])`;
      }
      continue;
    }
    open.clear();
    if (message.role === 'assistant' && Array.isArray(message.tool_calls)) {
      for (const call of message.tool_calls as unknown[])
        if (isRecord(call) && typeof call.id === 'string') open.add(call.id);
    }
  }
  return undefined;
}

function streamEncoder(context: AnswerContext): StreamEncoder {
  const { body } = context;
  const streamOptions = body.stream_options;
  const includeUsage = isRecord(streamOptions) && streamOptions.include_usage === true;
  const head = `data: {"id":"chatcmpl-${context.requestId}","object":"chat.completion.chunk","created":${context.created},"model":${JSON.stringify(context.model)},"choices":`;
  const tokenHead = `${head}[{"index":0,"delta":{"content":`;
  const tokenTail = '},"finish_reason":null}]}\n\n';
  return {
    head: [`${head}[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n`],
    token: (tokenJson) => tokenHead + tokenJson + tokenTail,
    tail: (completionTokens) => {
      const finish = `${head}[{"index":0,"delta":{},"finish_reason":${JSON.stringify(context.finishReason ?? 'stop')}}]}\n\n`;
      if (!includeUsage) return [finish, 'data: [DONE]\n\n'];
      const { promptTokens } = context;
      const usage = `{"prompt_tokens":${promptTokens},"completion_tokens":${completionTokens},"total_tokens":${promptTokens + completionTokens}}`;
      return [finish, `${head}[],"usage":${usage}}\n\n`, 'data: [DONE]\n\n'];
    },
    toolChunks: () => toolChunks(context, head),
    malformed: 'data: {not json\n\n',
    error: (status) => `data: ${errorObject(status, {})}\n\n`,
  };
}

export function createOpenAIFormat(embeddingDimensions = FAKE_EMBEDDING_DIMENSIONS): WireFormat {
  return {
    // /v1/chat/completions (OpenAI), /openai/deployments/<name>/chat/completions (Azure OpenAI),
    // /models/chat/completions (Azure AI model inference): one wire format, the path and query are logged.
    handlesChat: (path) => path.endsWith('/chat/completions'),
    embeddings: openAIEmbeddingsWire(embeddingDimensions),
    listing: {
      path: '/v1/models',
      body: JSON.stringify({
        object: 'list',
        data: [
          { id: OPENAI_DEFAULT_MODEL, object: 'model', created: 1_700_000_000, owned_by: 'rivulet-fake' },
        ],
      }),
    },
    // OpenAI sends the key as a bearer token; Azure OpenAI and Azure AI model inference send it as `api-key`.
    refuseHeaders: (headers: IncomingHttpHeaders, requiredKey) =>
      requiredKey === undefined ||
      headers.authorization === `Bearer ${requiredKey}` ||
      headers['api-key'] === requiredKey
        ? undefined
        : { status: 401, overrides: {} },
    refuseBody: (body) => {
      if (!Array.isArray(body.messages)) {
        return {
          status: 400,
          overrides: { message: "Missing required parameter: 'messages'.", param: 'messages' },
        };
      }
      const problem = refuseTools(body);
      return problem === undefined ? undefined : { status: 400, overrides: { message: problem } };
    },
    wantsStream: (body) => body.stream === true,
    // max_completion_tokens is the newer name (reasoning models); max_tokens the one Rivulet sends.
    maxTokens: (body) => tokenLimit(body.max_completion_tokens) ?? tokenLimit(body.max_tokens),
    lengthReason: 'length',
    toolCallsReason: 'tool_calls',
    toolTurns,
    streamContentType: 'text/event-stream',
    streamEncoder,
    wholeAnswer: (context, text, completionTokens) =>
      JSON.stringify({
        id: `chatcmpl-${context.requestId}`,
        object: 'chat.completion',
        created: context.created,
        model: context.model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              // OpenAI sends null content for a turn that only calls tools.
              content: text === '' && context.toolCalls.length > 0 ? null : text,
              refusal: null,
              ...(context.toolCalls.length === 0
                ? {}
                : {
                    tool_calls: context.toolCalls.map((call, index) => ({
                      id: callId(context, index),
                      type: 'function',
                      function: { name: call.name, arguments: argumentsText(call) },
                    })),
                  }),
            },
            logprobs: null,
            finish_reason: context.finishReason ?? 'stop',
          },
        ],
        usage: {
          prompt_tokens: context.promptTokens,
          completion_tokens: completionTokens,
          total_tokens: context.promptTokens + completionTokens,
        },
      }),
    errorBody: (status, overrides) => errorObject(status, overrides),
  };
}
