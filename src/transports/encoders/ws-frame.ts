// WebSocket frames: the server -> client envelope around run events, plus control frames.

import type { RunEvent } from '../../core/events.ts';
import type { LogEntry } from '../../core/run-hub.ts';

export type ServerFrame =
  | { type: 'event'; runId: string; event: RunEvent }
  | { type: 'accepted'; requestId: string | null; runId: string }
  | { type: 'stopped'; runId: string; stopped: boolean }
  /** Answer to `auth`: the socket is signed in. */
  | { type: 'authenticated'; requestId: string | null }
  /** Answer to `resume`: events after `afterSeq` follow; none do when the run finished at or before it. */
  | {
      type: 'resumed';
      requestId: string | null;
      runId: string;
      state: 'running' | 'finished';
      afterSeq: number;
      lastSeq: number;
    }
  | {
      type: 'error';
      requestId: string | null;
      runId: string | null;
      /** `status` is what the same refusal answers over HTTP; `retryable` says whether trying again may work. */
      error: { code: string; message: string; status: number; retryable: boolean };
    };

/** Built by concatenation so the event JSON the producer already made is not serialised again per reader. */
export function encodeWsEventFrame(runId: string, entry: LogEntry): string {
  return `{"type":"event","runId":${JSON.stringify(runId)},"event":${entry.json}}`;
}

export function encodeWsControlFrame(frame: Exclude<ServerFrame, { type: 'event' }>): string {
  return JSON.stringify(frame);
}

export function decodeServerFrame(data: string): ServerFrame {
  return JSON.parse(data) as ServerFrame;
}
