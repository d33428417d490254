// Anthropic's Messages wire format for the fake upstream: named SSE events, message objects, typed error bodies.

import {
  tokenLimit,
  type ErrorOverrides,
  type Refusal,
  type StreamEncoder,
  type WireFormat,
} from './wire-format.ts';

function errorTypeFor(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 504:
      return 'timeout_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

const DEFAULT_MESSAGES: Record<string, string> = {
  authentication_error: 'invalid x-api-key',
  not_found_error: 'The requested resource could not be found.',
  rate_limit_error: 'Number of request tokens has exceeded your per-minute rate limit (fake upstream).',
  overloaded_error: 'Overloaded',
  api_error: 'Internal server error',
};

function errorObject(status: number, overrides: ErrorOverrides): string {
  const type = errorTypeFor(status);
  const message = overrides.message ?? DEFAULT_MESSAGES[type] ?? `Request failed with status ${status}.`;
  return JSON.stringify({ type: 'error', error: { type, message } });
}

const event = (name: string, data: string): string => `event: ${name}\ndata: ${data}\n\n`;

/** Anthropic's own rules for `messages`, so an adapter that breaks them fails here as it would there. */
function refuseMessages(messages: unknown[]): string | undefined {
  let previous: unknown;
  for (const [index, message] of messages.entries()) {
    const role = (message as { role?: unknown } | null)?.role;
    if (role !== 'user' && role !== 'assistant') {
      return `messages.${index}.role: Input should be 'user' or 'assistant'`;
    }
    if (index === 0 && role !== 'user') return 'messages: first message must use the "user" role';
    if (role === previous) {
      return `messages: roles must alternate between "user" and "assistant", but found multiple "${role}" roles in a row`;
    }
    previous = role;
  }
  return undefined;
}

export function createAnthropicFormat(): WireFormat {
  return {
    handlesChat: (path) => path === '/v1/messages',
    refuseHeaders: (headers, requiredKey): Refusal | undefined => {
      if (requiredKey === undefined) return undefined;
      if (headers['x-api-key'] !== requiredKey) return { status: 401, overrides: {} };
      // The real API answers a missing version with 400, not 401.
      if (headers['anthropic-version'] === undefined) {
        return { status: 400, overrides: { message: 'anthropic-version: header is required' } };
      }
      return undefined;
    },
    refuseBody: (body): Refusal | undefined => {
      if (typeof body.max_tokens !== 'number') {
        return { status: 400, overrides: { message: 'max_tokens: Field required' } };
      }
      if (!Array.isArray(body.messages))
        return { status: 400, overrides: { message: 'messages: Field required' } };
      const problem = refuseMessages(body.messages as unknown[]);
      return problem === undefined ? undefined : { status: 400, overrides: { message: problem } };
    },
    wantsStream: (body) => body.stream === true,
    maxTokens: (body) => tokenLimit(body.max_tokens),
    lengthReason: 'max_tokens',
    streamContentType: 'text/event-stream; charset=utf-8',
    streamEncoder: (context): StreamEncoder => {
      const tokenHead =
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":';
      return {
        head: [
          event(
            'message_start',
            JSON.stringify({
              type: 'message_start',
              message: {
                id: `msg_fake${context.requestId}`,
                type: 'message',
                role: 'assistant',
                model: context.model,
                content: [],
                stop_reason: null,
                stop_sequence: null,
                usage: { input_tokens: context.promptTokens, output_tokens: 1 },
              },
            }),
          ),
          event(
            'content_block_start',
            '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
          ),
          event('ping', '{"type":"ping"}'),
        ],
        token: (tokenJson) => `${tokenHead}${tokenJson}}}\n\n`,
        tail: (completionTokens) => [
          event('content_block_stop', '{"type":"content_block_stop","index":0}'),
          event(
            'message_delta',
            `{"type":"message_delta","delta":{"stop_reason":${JSON.stringify(context.finishReason ?? 'end_turn')},"stop_sequence":null},"usage":{"output_tokens":${completionTokens}}}`,
          ),
          event('message_stop', '{"type":"message_stop"}'),
        ],
        malformed: 'event: content_block_delta\ndata: {not json\n\n',
        error: (status) => event('error', errorObject(status, {})),
      };
    },
    wholeAnswer: (context, text, completionTokens) =>
      JSON.stringify({
        id: `msg_fake${context.requestId}`,
        type: 'message',
        role: 'assistant',
        model: context.model,
        content: [{ type: 'text', text }],
        stop_reason: context.finishReason ?? 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: context.promptTokens, output_tokens: completionTokens },
      }),
    errorBody: (status, overrides) => errorObject(status, overrides),
  };
}
