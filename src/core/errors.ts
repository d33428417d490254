// The one registry of error codes: HTTP status, safe message and whether retrying can help.

export interface ErrorSpec {
  status: number;
  /** Safe to show to an end user: no upstream bodies, keys or stack traces. */
  message: string;
  retryable: boolean;
}

export const ERROR_CODES = {
  BAD_REQUEST: { status: 400, message: 'The request is malformed.', retryable: false },
  VALIDATION_FAILED: { status: 400, message: 'The request did not pass validation.', retryable: false },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON.', retryable: false },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    message: 'Send the request body as application/json.',
    retryable: false,
  },
  BAD_LAST_EVENT_ID: {
    status: 400,
    message: 'Last-Event-ID must be "<runId>:<seq>" or a sequence number for this run.',
    retryable: false,
  },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.', retryable: false },
  NOT_FOUND: { status: 404, message: 'No such route.', retryable: false },
  UPGRADE_REQUIRED: {
    status: 426,
    message: 'This endpoint speaks WebSocket: connect with an Upgrade: websocket request.',
    retryable: false,
  },
  UNAUTHORIZED: {
    status: 401,
    message: 'Sign in: send Authorization: Bearer <a JWT or an API key>.',
    retryable: false,
  },
  FORBIDDEN: { status: 403, message: 'Only an admin may do this.', retryable: false },
  ORIGIN_NOT_ALLOWED: {
    status: 403,
    message: 'This chatbot does not accept anonymous visitors from this site.',
    retryable: false,
  },
  RATE_LIMITED: {
    status: 429,
    message: 'Too many requests: wait as long as Retry-After says, then try again.',
    retryable: true,
  },
  TOO_MANY_STREAMS: {
    status: 429,
    message: 'Too many answers streaming at once: wait for one to finish or stop one.',
    retryable: true,
  },
  TOKEN_BUDGET_EXCEEDED: {
    status: 429,
    message: "Today's token budget is spent: it renews at midnight UTC (Retry-After).",
    retryable: true,
  },
  MESSAGE_TOO_LONG: { status: 413, message: 'The question is too long.', retryable: false },
  CONVERSATION_TOO_LONG: {
    status: 413,
    message: 'This conversation is too long: start a new one.',
    retryable: false,
  },
  API_KEY_NOT_FOUND: { status: 404, message: 'No such API key.', retryable: false },
  CHATBOT_EXISTS: {
    status: 409,
    message: 'A chatbot with this id exists: update it with PUT.',
    retryable: false,
  },
  RUN_NOT_FOUND: {
    status: 404,
    message: 'No such run: it never existed or its retention window has passed.',
    retryable: false,
  },
  RUN_INTERRUPTED: {
    status: 410,
    message:
      'This answer was cut off by a server restart: the conversation keeps its text so far, and the question can be asked again.',
    retryable: false,
  },
  TOO_MANY_READERS: {
    status: 429,
    message: 'Too many readers are following answers: close another tab or connection, then try again.',
    retryable: true,
  },
  CONVERSATION_NOT_FOUND: { status: 404, message: 'No such conversation.', retryable: false },
  DOCUMENT_NOT_FOUND: { status: 404, message: 'No such document.', retryable: false },
  ROOM_NOT_FOUND: { status: 404, message: 'No such room.', retryable: false },
  ROOM_MEMBER_NOT_FOUND: { status: 404, message: 'No such member in this room.', retryable: false },
  ROOM_FORBIDDEN: {
    status: 403,
    message: "Only the room's owner or an admin may do this.",
    retryable: false,
  },
  ROOM_OWNER_STAYS: {
    status: 409,
    message: "The room's owner cannot be removed: delete the room instead.",
    retryable: false,
  },
  ROOM_FULL: { status: 409, message: 'This room has as many members as a room may have.', retryable: false },
  ROOM_NOT_JOINED: {
    status: 409,
    message: 'Join the room on this socket first: send {"type":"room-join","roomId":"..."}.',
    retryable: false,
  },
  ROOMS_NEED_SIGN_IN: {
    status: 403,
    message: 'Rooms are for signed-in users: sign in with a JWT or an API key.',
    retryable: false,
  },
  DOCUMENT_UNSUPPORTED_TYPE: {
    status: 415,
    message: 'This file type cannot be ingested. Supported: txt, md, html, json, jsonl, csv, pdf, docx.',
    retryable: false,
  },
  DOCUMENT_UNREADABLE: {
    status: 422,
    message: 'The file could not be read: it is corrupt or not what its name says.',
    retryable: false,
  },
  DOCUMENT_EMPTY: { status: 422, message: 'The file contains no text to index.', retryable: false },
  DOCUMENT_TOO_LARGE: {
    status: 413,
    message: 'The file is larger than DOCUMENT_MAX_BYTES allows.',
    retryable: false,
  },
  DOCUMENT_EXPANDS_TOO_BIG: {
    status: 413,
    message: 'The file decompresses to more than DOCUMENT_MAX_EXPANDED_BYTES allows.',
    retryable: false,
  },
  DOCUMENT_TOO_COMPLEX: {
    status: 422,
    message: 'The file is too complex to read within the server’s limits (columns, pages or memory).',
    retryable: false,
  },
  DOCUMENT_TOO_MANY_CHUNKS: {
    status: 413,
    message: 'The file holds more text than DOCUMENT_MAX_CHUNKS chunks: split it into smaller files.',
    retryable: false,
  },
  DOCUMENT_PARSE_TIMEOUT: {
    status: 422,
    message: 'Reading the file took longer than DOCUMENT_PARSE_TIMEOUT_MS allows.',
    retryable: false,
  },
  CHATBOT_NOT_FOUND: { status: 404, message: 'No such chatbot.', retryable: false },
  EMBEDDING_SPACE_MISMATCH: {
    status: 409,
    message:
      'The stored vectors were made by another embedding model. Run `rivulet ingest --reembed` or restore EMBEDDING_MODEL.',
    retryable: false,
  },
  RUN_STOPPED: { status: 409, message: 'The run was stopped.', retryable: false },
  RUN_ABANDONED: {
    status: 409,
    message: 'The run was cancelled because no reader came back within the grace period.',
    retryable: true,
  },
  RUN_TIMEOUT: {
    status: 504,
    message: 'The answer took longer than the maximum stream duration and was ended.',
    retryable: true,
  },
  RUN_LOG_LIMIT: {
    status: 507,
    message: 'The answer exceeded the size limit for one run and was ended.',
    retryable: false,
  },
  RUN_OWNER_LOST: {
    status: 503,
    message:
      'The server generating this answer stopped responding: the conversation keeps the text so far; ask again.',
    retryable: true,
  },
  HUB_UNAVAILABLE: {
    status: 503,
    message: 'New answers cannot start while the run hub (Redis) is unreachable; retry shortly.',
    retryable: true,
  },
  STORE_UNAVAILABLE: {
    status: 503,
    message: 'The database cannot be reached; retry shortly or on another instance.',
    retryable: true,
  },
  DATABASE_TOO_NEW: {
    status: 503,
    message: 'The database was migrated by a newer Rivulet than this one; run that release or newer.',
    retryable: false,
  },
  MIGRATION_FAILED: {
    status: 503,
    message: 'A database migration failed; the database was left as it was before it.',
    retryable: false,
  },
  WEB_APP_NOT_BUILT: {
    status: 503,
    message: 'The web app is not built: run `npm run build:web` (`npm start` builds it).',
    retryable: false,
  },
  SHUTTING_DOWN: {
    status: 503,
    message: 'The server is shutting down; retry on another instance.',
    retryable: true,
  },
  METRICS_UNAVAILABLE: {
    status: 503,
    message: 'The metrics of every worker could not be gathered; retry shortly.',
    retryable: true,
  },
  PROVIDER_QUEUE_TIMEOUT: {
    status: 503,
    message:
      'Too many answers are waiting for the language model: none came free in time. Try again shortly.',
    retryable: true,
  },
  UPSTREAM_RATE_LIMITED: {
    status: 429,
    message: 'The language model provider is rate limiting requests.',
    retryable: true,
  },
  UPSTREAM_AUTH_FAILED: {
    status: 502,
    message: 'The language model provider rejected the configured credentials.',
    retryable: false,
  },
  UPSTREAM_BAD_REQUEST: {
    status: 502,
    message: 'The language model provider rejected the request.',
    retryable: false,
  },
  UPSTREAM_UNAVAILABLE: {
    status: 502,
    message: 'The language model provider is unavailable.',
    retryable: true,
  },
  UPSTREAM_TIMEOUT: {
    status: 504,
    message: 'The language model provider did not answer in time.',
    retryable: true,
  },
  TOOL_INPUT_INVALID: {
    status: 422,
    message: 'The model called a tool with input that is not valid for it.',
    retryable: false,
  },
  TOOL_NOT_FOUND: {
    status: 422,
    message: 'The model called a tool this chatbot does not have.',
    retryable: false,
  },
  TOOL_FAILED: {
    status: 502,
    message: 'The tool failed to run.',
    retryable: true,
  },
  AGENT_MAX_STEPS: {
    status: 422,
    message: 'The answer reached its step cap before this tool call could run.',
    retryable: false,
  },
  TOOL_CALL_ABANDONED: {
    status: 502,
    message: 'The provider failed while writing this tool call; the step was restarted on the next provider.',
    retryable: true,
  },
  UPSTREAM_DROPPED: {
    status: 502,
    message: 'The connection to the language model provider was lost before the answer was complete.',
    retryable: true,
  },
  UPSTREAM_STALLED: {
    status: 504,
    message: 'The language model provider stopped sending tokens.',
    retryable: true,
  },
  UPSTREAM_BAD_RESPONSE: {
    status: 502,
    message: 'The language model provider sent a response that could not be read.',
    retryable: true,
  },
  TOOL_TIMEOUT: {
    status: 504,
    message: 'The tool did not answer in time and was cancelled.',
    retryable: true,
  },
  MCP_SERVER_UNAVAILABLE: {
    status: 503,
    message: "The tool's MCP server cannot be reached.",
    retryable: true,
  },
  INTERNAL: { status: 500, message: 'An internal error occurred.', retryable: true },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** HTTP status for a code seen on the wire; an unregistered code is treated as a bad gateway. */
export function statusForCode(code: string): number {
  return isErrorCode(code) ? ERROR_CODES[code].status : 502;
}

/**
 * An error with a registered code. `message` is safe for users; `detail` is for logs only.
 */
export class RivuletError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly detail: string | undefined;
  /** From an upstream Retry-After header, when one was sent. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: ErrorCode,
    options: { message?: string; detail?: string; cause?: unknown; retryAfterMs?: number } = {},
  ) {
    const spec: ErrorSpec = ERROR_CODES[code];
    super(options.message ?? spec.message, { cause: options.cause });
    this.name = 'RivuletError';
    this.code = code;
    this.status = spec.status;
    this.retryable = spec.retryable;
    this.detail = options.detail;
    this.retryAfterMs = options.retryAfterMs;
  }

  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** Anything thrown becomes a coded error; unknown errors are masked as INTERNAL. */
export function toRivuletError(error: unknown): RivuletError {
  if (error instanceof RivuletError) return error;
  return new RivuletError('INTERNAL', {
    detail: error instanceof Error ? error.message : String(error),
    cause: error,
  });
}
