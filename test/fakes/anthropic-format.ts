// Anthropic's Messages wire format for the fake upstream: named SSE events, message objects, typed error bodies.

import {
  argumentsText,
  isRecord,
  pieces,
  tokenLimit,
  type AnswerContext,
  type FakeToolCall,
  type FakeToolResult,
  type ToolTurns,
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

const blocksOf = (content: unknown): Record<string, unknown>[] =>
  Array.isArray(content) ? (content as unknown[]).filter(isRecord) : [];

/**
 * Anthropic's own rules for `messages`, so an adapter that breaks them fails here as it would there: alternating
 * roles starting with the user, non-empty text blocks, and each tool_result answering a tool_use of the turn before.
 */
function refuseMessages(messages: unknown[]): string | undefined {
  let previous: unknown;
  let toolUseIds = new Set<string>();
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
    const blocks = blocksOf((message as { content?: unknown }).content);
    for (const [blockIndex, block] of blocks.entries()) {
      if (block.type === 'text' && (typeof block.text !== 'string' || block.text.trim() === '')) {
        return `messages.${index}.content.${blockIndex}.text: text content blocks must contain non-whitespace text`;
      }
      if (
        block.type === 'tool_result' &&
        (typeof block.tool_use_id !== 'string' || !toolUseIds.has(block.tool_use_id))
      ) {
        return `messages.${index}.content.${blockIndex}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(block.tool_use_id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
      }
      if (block.type === 'tool_use' && !isRecord(block.input)) {
        return `messages.${index}.content.${blockIndex}.tool_use.input: Input should be a valid dictionary`;
      }
    }
    toolUseIds = new Set(
      blocks.flatMap((block) =>
        block.type === 'tool_use' && typeof block.id === 'string' ? [block.id] : [],
      ),
    );
  }
  return undefined;
}

function refuseTools(tools: unknown): string | undefined {
  if (tools === undefined) return undefined;
  if (!Array.isArray(tools)) return 'tools: Input should be a valid list';
  for (const [index, tool] of (tools as unknown[]).entries()) {
    if (!isRecord(tool) || typeof tool.name !== 'string') return `tools.${index}.name: Field required`;
    if (!isRecord(tool.input_schema)) return `tools.${index}.input_schema: Field required`;
  }
  return undefined;
}

function toolTurns(body: Record<string, unknown>): ToolTurns {
  const turns: ToolTurns = { tools: [], results: [], calls: [], callTurns: 0 };
  if (Array.isArray(body.tools)) {
    for (const tool of body.tools as unknown[])
      if (isRecord(tool) && typeof tool.name === 'string') turns.tools.push(tool.name);
  }
  for (const message of Array.isArray(body.messages) ? (body.messages as unknown[]) : []) {
    const blocks = blocksOf(isRecord(message) ? message.content : undefined);
    if (blocks.some((block) => block.type === 'tool_use')) turns.callTurns += 1;
    for (const block of blocks) {
      if (block.type === 'tool_result') {
        const result: FakeToolResult = {
          content: typeof block.content === 'string' ? block.content : JSON.stringify(block.content),
        };
        if (typeof block.tool_use_id === 'string') result.toolCallId = block.tool_use_id;
        if (block.is_error === true) result.isError = true;
        turns.results.push(result);
      } else if (block.type === 'tool_use' && typeof block.name === 'string') {
        turns.calls.push({
          ...(typeof block.id === 'string' ? { toolCallId: block.id } : {}),
          name: block.name,
          inputText: JSON.stringify(block.input),
        });
      }
    }
  }
  return turns;
}

const toolUseId = (context: AnswerContext, index: number): string =>
  context.toolCalls[index]?.id ?? `toolu_fake${context.requestId}_${index}`;

/** The input of a whole (non-streaming) tool_use block: the object, or the malformed text as it was written. */
function wholeInput(call: FakeToolCall): unknown {
  if (typeof call.arguments !== 'string') return call.arguments;
  try {
    return JSON.parse(call.arguments) as unknown;
  } catch {
    return call.arguments;
  }
}

/**
 * Each call is a tool_use content block after the text block (index 0, or the first when there is no text): a
 * content_block_start with `input: {}`, the input as input_json_delta pieces, a content_block_stop.
 */
function toolBlocks(context: AnswerContext): string[] {
  const first = context.hasText ? 1 : 0;
  return [
    ...(context.hasText ? [event('content_block_stop', '{"type":"content_block_stop","index":0}')] : []),
    ...context.toolCalls.flatMap((call, callIndex) => {
      const index = first + callIndex;
      return [
        event(
          'content_block_start',
          JSON.stringify({
            type: 'content_block_start',
            index,
            content_block: {
              type: 'tool_use',
              id: toolUseId(context, callIndex),
              name: call.name,
              input: {},
            },
          }),
        ),
        ...pieces(argumentsText(call), context.argumentChunkChars).map((piece) =>
          event(
            'content_block_delta',
            JSON.stringify({
              type: 'content_block_delta',
              index,
              delta: { type: 'input_json_delta', partial_json: piece },
            }),
          ),
        ),
        event('content_block_stop', JSON.stringify({ type: 'content_block_stop', index })),
      ];
    }),
  ];
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
      const problem = refuseMessages(body.messages as unknown[]) ?? refuseTools(body.tools);
      return problem === undefined ? undefined : { status: 400, overrides: { message: problem } };
    },
    wantsStream: (body) => body.stream === true,
    maxTokens: (body) => tokenLimit(body.max_tokens),
    lengthReason: 'max_tokens',
    toolCallsReason: 'tool_use',
    toolTurns,
    streamContentType: 'text/event-stream; charset=utf-8',
    streamEncoder: (context): StreamEncoder => {
      const tokenHead =
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":';
      // A turn that only calls tools has no text block: its first tool_use block is index 0.
      const textBlock = context.hasText || context.toolCalls.length === 0;
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
          ...(textBlock
            ? [
                event(
                  'content_block_start',
                  '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
                ),
              ]
            : []),
          event('ping', '{"type":"ping"}'),
        ],
        token: (tokenJson) => `${tokenHead}${tokenJson}}}\n\n`,
        toolChunks: () => toolBlocks(context),
        tail: (completionTokens) => [
          // With tool calls every block was closed by toolChunks.
          ...(context.toolCalls.length === 0
            ? [event('content_block_stop', '{"type":"content_block_stop","index":0}')]
            : []),
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
        content: [
          ...(text === '' && context.toolCalls.length > 0 ? [] : [{ type: 'text', text }]),
          ...context.toolCalls.map((call, index) => ({
            type: 'tool_use',
            id: toolUseId(context, index),
            name: call.name,
            input: wholeInput(call),
          })),
        ],
        stop_reason: context.finishReason ?? 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: context.promptTokens, output_tokens: completionTokens },
      }),
    errorBody: (status, overrides) => errorObject(status, overrides),
  };
}
