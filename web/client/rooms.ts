// Rooms from a browser: REST for creating, reading and inviting (/api/rooms), and one WebSocket joined to a room
// (`room-join`, `room-ask`, `room-leave`) whose questions and answers, from every member, are kept as a snapshot of
// entries the UI renders. Answers are ordinary run events, applied as the chat session applies them.

import type { StoredMessage } from '../../src/core/conversation-store.ts';
import type { RunEvent } from '../../src/core/events.ts';
import type { Room, RoomMember, RoomMemberView, RoomQuestion, RoomView } from '../../src/core/rooms.ts';
import { RivuletClientError, type RivuletClient } from './client.ts';
import { applyAnswerEvent, fromStored, statsFrom, type UiMessage } from './session.ts';

export type { Room, RoomMember, RoomMemberView, RoomQuestion, RoomView };

/** The WebSocket frames a room socket reads (ServerFrame in src/transports/encoders/ws-frame.ts, whose imports are
 * server-only). */
type RoomFrame =
  | { type: 'event'; runId: string; event: RunEvent }
  | { type: 'accepted' | 'stopped' | 'authenticated' | 'resumed' }
  | { type: 'room-joined'; requestId: string | null; roomId: string; room: Room; members: RoomMemberView[] }
  | { type: 'room-members'; roomId: string; members: RoomMemberView[] }
  | ({ type: 'room-question' } & RoomQuestion)
  | { type: 'room-left'; requestId: string | null; roomId: string; reason: 'left' | 'removed' | 'deleted' }
  | {
      type: 'error';
      requestId: string | null;
      error: { code: string; message: string; status: number; retryable: boolean };
    };

/** One question asked in the room and its answer as far as it has arrived. */
export interface RoomEntry {
  question: RoomQuestion;
  answer: UiMessage;
}

export interface RoomSnapshot {
  /** `connecting` until `room-joined`; `gone` when the room is unknown to this user, or they left or were removed. */
  state: 'connecting' | 'joined' | 'gone';
  room: Room | null;
  members: RoomMemberView[];
  entries: RoomEntry[];
  /** Why the room is gone or the last refusal (asking too fast, a bad question, a dropped socket). */
  error: { code: string; message: string } | null;
}

export async function createRoom(client: RivuletClient, name: string): Promise<RoomView> {
  const response = await client.request('/api/rooms', { method: 'POST', json: { name } });
  return (await response.json()) as RoomView;
}

export async function listRooms(client: RivuletClient): Promise<Room[]> {
  const response = await client.request('/api/rooms');
  return ((await response.json()) as { rooms: Room[] }).rooms;
}

/** The owner (or an admin) adds a member by principal id: `user:<sub>` or `key:<id>`. */
export async function inviteMember(
  client: RivuletClient,
  roomId: string,
  memberId: string,
): Promise<RoomMember> {
  const response = await client.request(`/api/rooms/${encodeURIComponent(roomId)}/members`, {
    method: 'POST',
    json: { memberId },
  });
  return (await response.json()) as RoomMember;
}

/** One room over one WebSocket: join, follow every member's questions and answers, ask, leave. */
export class RoomConnection {
  readonly roomId: string;
  readonly #client: RivuletClient;
  readonly #listeners = new Set<(snapshot: RoomSnapshot) => void>();
  #snapshot: RoomSnapshot = { state: 'connecting', room: null, members: [], entries: [], error: null };
  #socket: WebSocket | undefined;
  #closed = false;

  constructor(client: RivuletClient, roomId: string) {
    this.#client = client;
    this.roomId = roomId;
  }

  get snapshot(): RoomSnapshot {
    return this.#snapshot;
  }

  subscribe(listener: (snapshot: RoomSnapshot) => void): () => void {
    this.#listeners.add(listener);
    listener(this.#snapshot);
    return () => this.#listeners.delete(listener);
  }

  /** Opens the socket, signs in and joins; the room's answers still running are replayed from their start. */
  open(): void {
    const Socket = this.#client.webSocket;
    const socket = new Socket(this.#client.webSocketUrl());
    this.#socket = socket;
    socket.addEventListener('open', () => {
      void this.#client.webSocketAuth().then((auth) => {
        if (socket.readyState !== socket.OPEN) return;
        if (auth !== undefined) socket.send(JSON.stringify(auth));
        socket.send(JSON.stringify({ type: 'room-join', roomId: this.roomId, requestId: 'join' }));
      });
    });
    socket.addEventListener('message', (message: MessageEvent) => {
      if (typeof message.data === 'string') this.#frame(JSON.parse(message.data) as RoomFrame);
    });
    socket.addEventListener('close', (event: CloseEvent) => {
      if (this.#closed || this.#snapshot.state === 'gone') return;
      this.#update({
        state: 'gone',
        error:
          event.code === 1008
            ? { code: 'UNAUTHORIZED', message: event.reason || 'The server refused this connection.' }
            : { code: 'NETWORK_ERROR', message: `The connection to the room closed (${event.code}).` },
      });
    });
  }

  /** Asks in the room; every member sees the question and its answer. */
  ask(message: string): void {
    const text = message.trim();
    if (text === '' || this.#snapshot.state !== 'joined') return;
    this.#socket?.send(JSON.stringify({ type: 'room-ask', roomId: this.roomId, message: text }));
  }

  /** Stops a room's answer (any member may). */
  stop(runId: string): void {
    this.#socket?.send(JSON.stringify({ type: 'stop', runId }));
  }

  close(): void {
    this.#closed = true;
    this.#listeners.clear();
    this.#socket?.close(1000);
  }

  #frame(frame: RoomFrame): void {
    switch (frame.type) {
      case 'room-joined':
        this.#update({ state: 'joined', room: frame.room, members: frame.members, error: null });
        void this.#loadHistory();
        return;
      case 'room-members':
        this.#update({ members: frame.members });
        return;
      case 'room-question': {
        if (this.#entry(frame.runId) !== undefined) return;
        const { type: _type, ...question } = frame;
        this.#update({ entries: [...this.#snapshot.entries, { question, answer: pendingAnswer(question) }] });
        return;
      }
      case 'event':
        this.#event(frame.runId, frame.event);
        return;
      case 'room-left':
        this.#update({
          state: 'gone',
          error:
            frame.reason === 'left'
              ? null
              : {
                  // What this user gets for the room from now on.
                  code: 'ROOM_NOT_FOUND',
                  message:
                    frame.reason === 'removed'
                      ? 'You were removed from this room.'
                      : 'This room was deleted.',
                },
        });
        return;
      case 'error': {
        const error = { code: frame.error.code, message: frame.error.message };
        // A refused join (not a member, no such room) means there is no room to show.
        if (frame.requestId === 'join') this.#update({ state: 'gone', error });
        else this.#update({ error });
        return;
      }
      case 'accepted':
      case 'stopped':
      case 'authenticated':
      case 'resumed':
        return;
    }
  }

  #event(runId: string, event: RunEvent): void {
    const entry = this.#entry(runId);
    if (entry === undefined) return;
    const answer: UiMessage = { ...entry.answer };
    if (event.type === 'done') {
      answer.text = event.text;
      answer.phase = null;
      answer.cached = event.cached;
      answer.status = event.finishReason === 'aborted' ? 'stopped' : 'complete';
      answer.stats = statsFrom(event.timings, event.usage, event.cached);
    } else applyAnswerEvent(answer, event);
    this.#update({
      entries: this.#snapshot.entries.map((each) => (each === entry ? { ...entry, answer } : each)),
    });
  }

  /** Questions answered before this page joined, with their stored answers (running ones were replayed). */
  async #loadHistory(): Promise<void> {
    let history: { messages: StoredMessage[]; questions: RoomQuestion[] };
    try {
      const response = await this.#client.request(
        `/api/rooms/${encodeURIComponent(this.roomId)}/messages?limit=50`,
      );
      history = (await response.json()) as typeof history;
    } catch (error) {
      const failure =
        error instanceof RivuletClientError
          ? { code: error.code, message: error.message }
          : { code: 'NETWORK_ERROR', message: 'The room history could not be loaded.' };
      this.#update({ error: failure });
      return;
    }
    const answers = new Map(
      fromStored(history.messages)
        .filter((message) => message.role === 'assistant' && message.runId !== undefined)
        .map((message) => [message.runId, message]),
    );
    const earlier: RoomEntry[] = [];
    for (const question of history.questions) {
      if (this.#entry(question.runId) !== undefined) continue;
      const answer = answers.get(question.runId);
      if (answer !== undefined) earlier.push({ question, answer });
    }
    const entries = [...earlier, ...this.#snapshot.entries].sort(
      (a, b) => a.question.askedAt - b.question.askedAt,
    );
    this.#update({ entries });
  }

  #entry(runId: string): RoomEntry | undefined {
    return this.#snapshot.entries.find((entry) => entry.question.runId === runId);
  }

  #update(change: Partial<RoomSnapshot>): void {
    this.#snapshot = { ...this.#snapshot, ...change };
    for (const listener of this.#listeners) listener(this.#snapshot);
  }
}

function pendingAnswer(question: RoomQuestion): UiMessage {
  return {
    id: `room-${question.runId}`,
    role: 'assistant',
    text: '',
    status: 'pending',
    phase: null,
    sources: [],
    runId: question.runId,
    question: question.text,
  };
}
