// What the HTTP and WebSocket routes need from the application, wired once in src/app.ts.

import type { FastifyRequest } from 'fastify';
import type { Config } from '../../config.ts';
import type { RollingStats } from '../../observability/rolling-stats.ts';
import type { ChatService } from '../../core/chat-service.ts';
import type { RunHub } from '../../core/run-hub.ts';
import type { Ingestor } from '../../retrieval/ingest.ts';
import type { Stores } from '../../stores/stores.ts';

export interface AppContext {
  config: Config;
  hub: RunHub;
  chat: ChatService;
  stores: Stores;
  ingestor: Ingestor;
  /** Per-minute aggregates of the last hour for the dashboard (GET /api/stats). */
  stats: RollingStats;
  /** Serves GET /metrics; undefined when METRICS_ENABLED=false. */
  metrics?: { readonly contentType: string; render(): Promise<string> } | undefined;
  /** The principal a request acts for; null on an open local install (auth lands with the auth issue). */
  principalOf(request: FastifyRequest): string | null;
}
