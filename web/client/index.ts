// rivulet/client: the client SDK (zero runtime dependencies). The React hook is in rivulet/client/react.

export {
  ChatStream,
  RivuletClient,
  RivuletClientError,
  errorFromResponse,
  type ChatRequest,
  type ClientOptions,
  type ConversationPage,
  type HeadersSource,
  type RetryOptions,
  type StreamOptions,
} from './client.ts';
export {
  ChatSession,
  fromStored,
  type ChatSessionOptions,
  type MessageStats,
  type MessageStatus,
  type SessionSnapshot,
  type SessionStorageLike,
  type UiMessage,
} from './session.ts';
export { createSseParser, type SseFrame, type SseParser } from './sse-parser.ts';
export type {
  DoneEvent,
  ErrorEvent,
  FailoverEvent,
  PhaseEvent,
  PhaseName,
  RunEvent,
  RunEventType,
  Source,
  SourceMatch,
  SourcesEvent,
  StartEvent,
  Timings,
  TokenEvent,
  Usage,
} from '../../src/core/events.ts';
export type {
  Conversation,
  JsonValue,
  MessageMetadata,
  StoredMessage,
} from '../../src/core/conversation-store.ts';
export type { ChatAnswer } from '../../src/transports/encoders/aggregate.ts';
export type { MinuteStats, OutcomeCounts, RecentStats, StatsResponse } from '../../src/core/stats.ts';
