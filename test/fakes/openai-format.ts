// The OpenAI Chat Completions wire format for the fake upstream: SSE chunks, [DONE], OpenAI error bodies.

import type { IncomingHttpHeaders } from 'node:http';
import { FAKE_EMBEDDING_DIMENSIONS, openAIEmbeddingsWire } from './embeddings-format.ts';
import {
  isRecord,
  tokenLimit,
  type AnswerContext,
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
    refuseBody: (body) =>
      Array.isArray(body.messages)
        ? undefined
        : {
            status: 400,
            overrides: { message: "Missing required parameter: 'messages'.", param: 'messages' },
          },
    wantsStream: (body) => body.stream === true,
    // max_completion_tokens is the newer name (reasoning models); max_tokens the one Rivulet sends.
    maxTokens: (body) => tokenLimit(body.max_completion_tokens) ?? tokenLimit(body.max_tokens),
    lengthReason: 'length',
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
            message: { role: 'assistant', content: text, refusal: null },
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
