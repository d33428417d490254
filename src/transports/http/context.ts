// What the HTTP and WebSocket routes need from the application, wired once in src/app.ts.

import type { Config } from '../../config.ts';
import type { Authenticator } from '../auth.ts';
import type { RequestLimits } from '../request-limits.ts';
import type { RollingStats } from '../../observability/rolling-stats.ts';
import type { ChatService } from '../../core/chat-service.ts';
import type { RoomService } from '../../core/room-service.ts';
import type { RunHub } from '../../core/run-hub.ts';
import type { Ingestor } from '../../retrieval/ingest.ts';
import type { ProviderIncidents } from '../../observability/provider-incidents.ts';
import type { Stores } from '../../stores/stores.ts';
import type { StreamCompression } from './stream-compression.ts';

export interface AppContext {
  config: Config;
  hub: RunHub;
  chat: ChatService;
  /** Rooms: shared conversations (REST routes/rooms.ts, WebSocket ws-rooms.ts). */
  rooms: RoomService;
  stores: Stores;
  ingestor: Ingestor;
  /** Per-minute aggregates of the last hour for the dashboard (GET /api/stats). */
  stats: RollingStats;
  /** Provider failures that answers fell back on quoted passages for, with what to fix (admins only). */
  incidents: ProviderIncidents;
  /** This process's index among the workers of `rivulet serve --workers N` (shown in /healthz); else undefined. */
  workerIndex?: number;
  /** Serves GET /metrics; undefined when METRICS_ENABLED=false. */
  metrics?: { readonly contentType: string; render(): Promise<string> } | undefined;
  /** Finds the principal for credentials (routes read it from `request.principal`, set by access.ts). */
  authenticator: Authenticator;
  /** Which compression streamed answers may use (STREAM_COMPRESSION), reported to the metrics. */
  streamCompression: StreamCompression;
  /** Requests per minute per address and principal: HTTP requests and WebSocket messages count alike. */
  requestLimits: RequestLimits;
}
