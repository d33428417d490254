// WebSocket frames: the server -> client envelope around run events, plus control frames.

import type { RunEvent } from '../../core/events.ts';
import type { RoomMemberView } from '../../core/room-service.ts';
import type { Room } from '../../core/rooms.ts';
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
  /** Answer to `room-join`: the room and its members; a `room-question` per answer still running follows. */
  | { type: 'room-joined'; requestId: string | null; roomId: string; room: Room; members: RoomMemberView[] }
  /** The room's members and who is connected now, sent again whenever either changes. */
  | { type: 'room-members'; roomId: string; members: RoomMemberView[] }
  /** A member asked: the answer's events follow as `event` frames of `runId`. */
  | {
      type: 'room-question';
      roomId: string;
      runId: string;
      memberId: string;
      text: string;
      askedAt: number;
    }
  /** The socket is out of the room: it asked to leave, was removed, or the room was deleted. Nothing more arrives. */
  | { type: 'room-left'; requestId: string | null; roomId: string; reason: 'left' | 'removed' | 'deleted' }
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
