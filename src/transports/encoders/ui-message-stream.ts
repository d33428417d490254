// AI SDK UI message stream encoder (what `useChat` reads): run events as `data: <chunk JSON>` SSE frames, v1.

import type { RivuletError } from '../../core/errors.ts';
import type { FinishReason, RunEvent, Source, SourceMatch, Usage } from '../../core/events.ts';
import type { LogEntry } from '../../core/run-hub.ts';
import { formatSseComment } from './sse.ts';
import { codedRefusalBody, type WireFormat } from './wire-format.ts';

/** The header `useChat`'s transports look for; the value is the protocol version the chunks below follow. */
export const UI_MESSAGE_STREAM_HEADER = 'x-vercel-ai-ui-message-stream';
export const UI_MESSAGE_STREAM_VERSION = 'v1';

/** What a UI message carries as `metadata`: the run on `start`, its outcome on `finish` (merged by the client). */
export interface UiMessageMetadata {
  runId?: string;
  conversationId?: string;
  chatbotId?: string;
  provider?: string;
  model?: string;
  usage?: Usage | null;
  finishReason?: FinishReason;
  cached?: boolean;
  timings?: { ttftMs: number | null; totalMs: number };
}

/** Our own passage fields, under `providerMetadata.rivulet` of a `source-document` part. */
export type UiSourceMetadata = {
  documentId: string;
  chunkId: string | null;
  uri: string | null;
  snippet: string;
  score: number;
};

/**
 * The chunks this encoder writes: a subset of the `ai` package's `UIMessageChunk` (its
 * `ui-message-stream/ui-message-chunks.ts`, v6), which the round-trip test holds this type to.
 */
export type UiMessageChunk =
  | { type: 'start'; messageId: string; messageMetadata: UiMessageMetadata }
  | { type: 'text-start'; id: string }
  | { type: 'text-delta'; id: string; delta: string }
  | { type: 'text-end'; id: string }
  | {
      type: 'source-document';
      sourceId: string;
      mediaType: string;
      title: string;
      filename?: string;
      providerMetadata: { rivulet: UiSourceMetadata };
    }
  | { type: 'data-phase'; id: string; data: { name: string; state: 'start' | 'end'; durationMs?: number } }
  | { type: 'data-match'; id: string; data: SourceMatch }
  | { type: 'data-failover'; data: { from: string; to: string; reason: string } }
  | {
      type: 'data-queued';
      id: string;
      data: { provider: string; position: number; estimatedWaitMs: number | null };
    }
  | {
      type: 'tool-input-available';
      toolCallId: string;
      toolName: string;
      input: unknown;
      dynamic: true;
      providerExecuted: true;
    }
  | {
      type: 'tool-output-available';
      toolCallId: string;
      output: unknown;
      dynamic: true;
      providerExecuted: true;
    }
  | {
      type: 'tool-output-error';
      toolCallId: string;
      errorText: string;
      dynamic: true;
      providerExecuted: true;
    }
  | { type: 'tool-input-start'; toolCallId: string; toolName: string; dynamic: true; providerExecuted: true }
  | { type: 'tool-input-delta'; toolCallId: string; inputTextDelta: string }
  | { type: 'start-step' }
  | { type: 'finish-step' }
  | { type: 'message-metadata'; messageMetadata: UiMessageMetadata }
  | {
      type: 'finish';
      finishReason: Exclude<FinishReason, 'aborted' | 'max-steps'>;
      messageMetadata: UiMessageMetadata;
    }
  | { type: 'abort'; reason: string }
  | { type: 'error'; errorText: string };

/** The frame after the last chunk of a finished run (the SDK's own servers send it; its parser skips it). */
const DONE_FRAME = 'data: [DONE]\n\n';

export function formatUiChunk(chunk: UiMessageChunk): string {
  // JSON.stringify escapes every line break, so a chunk is always one `data:` line.
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

/** What a browser sees of a failed answer: our coded message (already free of internals), code first. */
export function uiErrorText(error: { code: string; message: string }): string {
  return `${error.code}: ${error.message}`;
}

/**
 * Media types by file extension, for `source-document.mediaType` (required there). A source's `uri` is a path or
 * a file name, so its extension is all there is to go on.
 */
const MEDIA_TYPES: Record<string, string> = {
  md: 'text/markdown',
  markdown: 'text/markdown',
  txt: 'text/plain',
  html: 'text/html',
  htm: 'text/html',
  pdf: 'application/pdf',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  json: 'application/json',
  jsonl: 'application/jsonl',
  csv: 'text/csv',
};

export function mediaTypeOf(uri: string | undefined): string {
  const extension = /\.([a-z0-9]+)$/i.exec(uri ?? '')?.[1]?.toLowerCase();
  return (extension === undefined ? undefined : MEDIA_TYPES[extension]) ?? 'application/octet-stream';
}

/**
 * One `source-document` per passage. Not `source-url`: our sources are passages of documents in the chatbot's
 * collection, named by a file path or an upload's file name, not by a URL a browser could open; the citation number
 * is the `sourceId` ("1" is cited as [1]) and the passage itself rides in `providerMetadata.rivulet`.
 */
export function sourceChunk(source: Source): UiMessageChunk {
  return {
    type: 'source-document',
    sourceId: source.id,
    mediaType: mediaTypeOf(source.uri),
    title: source.title,
    ...(source.uri === undefined ? {} : { filename: source.uri }),
    providerMetadata: {
      rivulet: {
        documentId: source.documentId,
        chunkId: source.chunkId ?? null,
        uri: source.uri ?? null,
        snippet: source.snippet,
        score: source.score,
      },
    },
  };
}

/**
 * The chunks of one response. It keeps the message id (from `start`) and whether a text part is open, so it must
 * see the run from its start: this format resumes by replaying the run from seq 0, which the SDK's default
 * transport expects (`resumeStreamIsReplay`).
 */
export function createUiChunkEncoder(): (event: RunEvent) => UiMessageChunk[] {
  let textId: string | undefined;
  let textOpen = false;
  let textSeen = false;
  let messageId = 'message';
  /** The agent step running (each step's text is its own text part); 0 in answers without tools. */
  let step = 0;
  const closeText = (): UiMessageChunk[] => {
    if (!textOpen || textId === undefined) return [];
    textOpen = false;
    return [{ type: 'text-end', id: textId }];
  };
  const delta = (text: string): UiMessageChunk[] => {
    const chunks: UiMessageChunk[] = [];
    textId ??= step === 0 ? `text-${messageId}` : `text-${messageId}-${step}`;
    if (!textOpen) {
      textOpen = true;
      chunks.push({ type: 'text-start', id: textId });
    }
    textSeen = true;
    chunks.push({ type: 'text-delta', id: textId, delta: text });
    return chunks;
  };
  return (event) => {
    switch (event.type) {
      case 'start':
        messageId = event.messageId;
        return [
          {
            type: 'start',
            messageId: event.messageId,
            messageMetadata: {
              runId: event.runId,
              conversationId: event.conversationId,
              chatbotId: event.chatbotId,
              provider: event.provider,
              model: event.model,
            },
          },
        ];
      case 'phase':
        // One part per phase (same id): its `end` replaces its `start` in the message.
        return [
          {
            type: 'data-phase',
            id: `phase-${event.name}`,
            data: {
              name: event.name,
              state: event.state,
              ...(event.durationMs === undefined ? {} : { durationMs: event.durationMs }),
            },
          },
        ];
      case 'sources':
        return [...event.sources.map(sourceChunk), { type: 'data-match', id: 'match', data: event.match }];
      case 'token':
        return event.text === '' ? [] : delta(event.text);
      case 'step':
        if (event.state === 'start') {
          step = event.step;
          textId = undefined;
          return [{ type: 'start-step' }];
        }
        return [...closeText(), { type: 'finish-step' }];
      case 'tool-input-start':
        return [
          {
            type: 'tool-input-start',
            toolCallId: event.toolCallId,
            toolName: event.name,
            dynamic: true,
            providerExecuted: true,
          },
        ];
      case 'tool-input-delta':
        return [{ type: 'tool-input-delta', toolCallId: event.toolCallId, inputTextDelta: event.delta }];
      case 'tool-call':
        return [
          {
            type: 'tool-input-available',
            toolCallId: event.toolCallId,
            toolName: event.name,
            input: event.input,
            dynamic: true,
            providerExecuted: true,
          },
        ];
      case 'tool-result':
        if (event.error !== undefined) {
          return [
            {
              type: 'tool-output-error',
              toolCallId: event.toolCallId,
              errorText: uiErrorText(event.error),
              dynamic: true,
              providerExecuted: true,
            },
          ];
        }
        return [
          {
            type: 'tool-output-available',
            toolCallId: event.toolCallId,
            output: event.output,
            dynamic: true,
            providerExecuted: true,
          },
        ];
      case 'queued':
        // One part (same id): each new place replaces the last in the message; position 0 says the wait is over.
        return [
          {
            type: 'data-queued',
            id: 'queued',
            data: {
              provider: event.provider,
              position: event.position,
              estimatedWaitMs: event.estimatedWaitMs,
            },
          },
        ];
      case 'failover':
        return [{ type: 'data-failover', data: { from: event.from, to: event.to, reason: event.reason } }];
      case 'usage':
        return [
          {
            type: 'message-metadata',
            messageMetadata: {
              usage: {
                inputTokens: event.inputTokens,
                outputTokens: event.outputTokens,
                ...(event.estimated === undefined ? {} : { estimated: event.estimated }),
              },
            },
          },
        ];
      case 'done': {
        // A reader always sees every token from seq 0, so this only fires for a run whose tokens never made the log.
        const chunks = textSeen || event.text === '' ? [] : delta(event.text);
        chunks.push(...closeText());
        const messageMetadata: UiMessageMetadata = {
          usage: event.usage,
          finishReason: event.finishReason,
          cached: event.cached,
          timings: { ttftMs: event.timings.ttftMs, totalMs: event.timings.totalMs },
        };
        if (event.finishReason === 'aborted') {
          // As the SDK's own streamText ends a stopped stream: `abort`, no `finish`.
          chunks.push({ type: 'message-metadata', messageMetadata }, { type: 'abort', reason: 'stopped' });
        } else {
          // The SDK has no "max-steps": its own agents end a capped loop with `tool-calls` (the metadata says which).
          const finishReason = event.finishReason === 'max-steps' ? 'tool-calls' : event.finishReason;
          chunks.push({ type: 'finish', finishReason, messageMetadata });
        }
        return chunks;
      }
      case 'error':
        return [...closeText(), { type: 'error', errorText: uiErrorText(event) }];
      default: {
        const unknownEvent: never = event;
        throw new Error(`unknown run event ${JSON.stringify(unknownEvent)}`);
      }
    }
  };
}

/** Frames for batches of log entries, with `[DONE]` after the terminal event. */
export function createUiMessageEncoder(): {
  encode: (entries: readonly LogEntry[]) => string;
  ended: () => boolean;
} {
  const chunksOf = createUiChunkEncoder();
  let terminal = false;
  return {
    encode: (entries) => {
      let out = '';
      for (const entry of entries) {
        for (const chunk of chunksOf(entry.event)) out += formatUiChunk(chunk);
        if (entry.event.type === 'done' || entry.event.type === 'error') {
          terminal = true;
          out += DONE_FRAME;
        }
      }
      return out;
    },
    ended: () => terminal,
  };
}

/**
 * The AI SDK UI message stream (`POST /api/chat/ui`): SSE without ids or event names, `: ping` comments as
 * keep-alives, resumed by replaying the run from its start (`GET /api/chat/ui/:chatId/stream`). Routes add the
 * `x-vercel-ai-ui-message-stream: v1` header.
 */
export const uiMessageStreamFormat: WireFormat = {
  name: 'ui-message-stream',
  contentType: 'text/event-stream; charset=utf-8',
  resume: { kind: 'from-start' },
  createEncoder: () => {
    const encoder = createUiMessageEncoder();
    return {
      head: '',
      encode: encoder.encode,
      keepAlive: formatSseComment('ping'),
      errorFrame: (error: RivuletError) =>
        encoder.ended() ? '' : formatUiChunk({ type: 'error', errorText: uiErrorText(error) }) + DONE_FRAME,
      trailer: () => '',
    };
  },
  refusalBody: codedRefusalBody,
};
