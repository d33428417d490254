// The rooms one WebSocket is in: joining (with catch-up on running answers), leaving, asking, the member list with
// presence, and leaving at once when the member is removed or the room deleted. Answers are followed through the
// socket's ordinary run subscriptions (routes/ws.ts), so backpressure and resume work as for any run.

import { RivuletError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { Principal } from '../../core/principal.ts';
import type { RoomNotice } from '../../core/room-bus.ts';
import type { RoomAskInput, RoomMemberView, RoomService } from '../../core/room-service.ts';
import type { Room, RoomQuestion } from '../../core/rooms.ts';
import { encodeWsControlFrame } from '../encoders/ws-frame.ts';

/** Rooms one socket may be in at once. */
const WS_MAX_ROOMS = 16;

export interface SocketRoomsDeps {
  service: RoomService;
  /** This socket's id in presence entries. */
  connectionId: string;
  send(data: string): void;
  /** Follows a run on this socket from after `afterSeq`; false when the run is gone. */
  follow(runId: string, afterSeq: number): Promise<boolean>;
  /** Stops following a run at once. */
  unfollow(runId: string): void;
  logger: Logger;
}

interface RoomState {
  memberId: string;
  /** False for a room this socket only reads one answer of (a `resume` by run id) without having joined it. */
  joined: boolean;
  /** Until `room-joined` is sent, questions wait here so none arrives before it. */
  waiting: RoomQuestion[] | undefined;
  /** The room's runs this socket follows. */
  runs: Set<string>;
  stopListening: () => void;
  refreshing: boolean;
  stale: boolean;
}

export class SocketRooms {
  private readonly deps: SocketRoomsDeps;
  private readonly rooms = new Map<string, RoomState>();

  constructor(deps: SocketRoomsDeps) {
    this.deps = deps;
  }

  /**
   * Joins a room the caller is a member of: presence, then `room-joined` with the members, then a `room-question` and
   * the events (after `lastSeqs[runId]`, else from the start) of every answer still running, then the live room.
   */
  async join(
    caller: Principal,
    roomId: string,
    lastSeqs: Record<string, number>,
    requestId: string | null,
  ): Promise<void> {
    const { service } = this.deps;
    const { room, memberId } = await service.membership(caller, roomId);
    let state = this.rooms.get(room.id);
    if (state?.joined === true) {
      this.sendJoined(requestId, room, await service.members(room.id));
      return;
    }
    if (state === undefined) {
      if (this.joinedCount() >= WS_MAX_ROOMS) {
        throw new RivuletError('TOO_MANY_READERS', {
          message: `This socket is in ${WS_MAX_ROOMS} rooms already: leave one first.`,
        });
      }
      state = this.track(room.id, memberId);
    }
    state.joined = true;
    state.waiting = [];
    await service.bus.enter(room.id, memberId, this.deps.connectionId);
    const [members, running] = await Promise.all([
      service.members(room.id),
      service.runningQuestions(room.id),
    ]);
    if (this.rooms.get(room.id) !== state) return;
    this.sendJoined(requestId, room, members);
    const waiting = state.waiting;
    state.waiting = undefined;
    for (const question of [...running, ...waiting]) {
      this.followQuestion(state, question, lastSeqs[question.runId] ?? -1);
    }
  }

  /** Leaves a room this socket joined: no more of its questions, answers or member lists. */
  leave(roomId: string, requestId: string | null): void {
    if (this.rooms.get(roomId)?.joined !== true) throw new RivuletError('ROOM_NOT_JOINED');
    this.drop(roomId, 'left', requestId);
  }

  /** Asks in a room this socket joined; every member's socket (this one too) follows the answer. Returns its run. */
  async ask(caller: Principal, roomId: string, input: RoomAskInput): Promise<string> {
    if (this.rooms.get(roomId)?.joined !== true) throw new RivuletError('ROOM_NOT_JOINED');
    const run = await this.deps.service.ask(caller, roomId, input);
    return run.runId;
  }

  /**
   * A room's run this socket follows after a `resume` by run id: it stops at once if the member is removed, whether
   * or not the socket joined the room.
   */
  watchRun(roomId: string, runId: string, memberId: string): void {
    const state = this.rooms.get(roomId) ?? this.track(roomId, memberId);
    state.runs.add(runId);
  }

  /** The socket closed: its presence ends everywhere. Its run subscriptions are closed by the socket. */
  close(): void {
    for (const [roomId, state] of this.rooms) {
      state.stopListening();
      if (state.joined) this.exit(roomId, state);
    }
    this.rooms.clear();
  }

  private joinedCount(): number {
    let count = 0;
    for (const state of this.rooms.values()) if (state.joined) count += 1;
    return count;
  }

  private track(roomId: string, memberId: string): RoomState {
    const state: RoomState = {
      memberId,
      joined: false,
      waiting: undefined,
      runs: new Set(),
      stopListening: () => {},
      refreshing: false,
      stale: false,
    };
    state.stopListening = this.deps.service.bus.listen(roomId, (notice) => this.heard(state, notice));
    this.rooms.set(roomId, state);
    return state;
  }

  private heard(state: RoomState, notice: RoomNotice): void {
    if (this.rooms.get(notice.roomId) !== state) return;
    switch (notice.type) {
      case 'question': {
        if (!state.joined) return;
        const { type: _type, ...question } = notice;
        if (state.waiting !== undefined) state.waiting.push(question);
        else this.followQuestion(state, question, -1);
        return;
      }
      case 'member-removed':
        if (notice.memberId === state.memberId) this.drop(notice.roomId, 'removed', null);
        else this.refreshMembers(notice.roomId, state);
        return;
      case 'room-deleted':
        this.drop(notice.roomId, 'deleted', null);
        return;
      case 'member-added':
      case 'presence':
        this.refreshMembers(notice.roomId, state);
        return;
      default: {
        const unreachable: never = notice;
        throw new Error(`unknown room notice ${JSON.stringify(unreachable)}`);
      }
    }
  }

  /** Announces a question once per socket and follows its answer (a second notice of it changes nothing). */
  private followQuestion(state: RoomState, question: RoomQuestion, afterSeq: number): void {
    if (state.runs.has(question.runId)) return;
    state.runs.add(question.runId);
    this.deps.send(encodeWsControlFrame({ type: 'room-question', ...question }));
    this.deps.follow(question.runId, afterSeq).then(
      (found) => {
        // Left (or removed) while the subscription was being made: it must not outlive the membership.
        if (this.rooms.get(question.roomId) !== state) this.deps.unfollow(question.runId);
        else if (!found) state.runs.delete(question.runId);
      },
      (error: unknown) => {
        state.runs.delete(question.runId);
        this.deps.logger.warn({ err: error, runId: question.runId }, 'room answer could not be followed');
      },
    );
  }

  /** Sends the member list again; changes that arrive while it is read are folded into one more read. */
  private refreshMembers(roomId: string, state: RoomState): void {
    if (!state.joined || state.waiting !== undefined) return;
    if (state.refreshing) {
      state.stale = true;
      return;
    }
    state.refreshing = true;
    const run = async (): Promise<void> => {
      do {
        state.stale = false;
        const members = await this.deps.service.members(roomId);
        if (this.rooms.get(roomId) !== state) return;
        this.deps.send(encodeWsControlFrame({ type: 'room-members', roomId, members }));
      } while (state.stale);
    };
    run()
      .catch((error: unknown) => this.deps.logger.warn({ err: error, roomId }, 'room members not sent'))
      .finally(() => {
        state.refreshing = false;
      });
  }

  /** Out of the room at once: no more notices, every answer of it unfollowed, presence ended. */
  private drop(roomId: string, reason: 'left' | 'removed' | 'deleted', requestId: string | null): void {
    const state = this.rooms.get(roomId);
    if (state === undefined) return;
    this.rooms.delete(roomId);
    state.stopListening();
    for (const runId of state.runs) this.deps.unfollow(runId);
    if (state.joined) this.exit(roomId, state);
    if (state.joined || reason !== 'left') {
      this.deps.send(encodeWsControlFrame({ type: 'room-left', requestId, roomId, reason }));
    }
  }

  private exit(roomId: string, state: RoomState): void {
    this.deps.service.bus
      .exit(roomId, state.memberId, this.deps.connectionId)
      .catch((error: unknown) => this.deps.logger.warn({ err: error, roomId }, 'room presence not ended'));
  }

  private sendJoined(requestId: string | null, room: Room, members: RoomMemberView[]): void {
    this.deps.send(encodeWsControlFrame({ type: 'room-joined', requestId, roomId: room.id, room, members }));
  }
}
