// The room bus contract: room-level notices (a question asked, members changed, presence) delivered to every
// instance's connections in a room, and who is connected to a room now. In memory for one process
// (src/stores/memory/), through Redis pub/sub for many (src/stores/redis/). Answers themselves travel through the run
// hub: a notice only names the run.

import type { RoomQuestion } from './rooms.ts';

export type RoomNotice =
  /** A member asked: every member's connection follows `runId` from its first event. */
  | ({ type: 'question' } & RoomQuestion)
  | { type: 'member-added'; roomId: string; memberId: string }
  /** The member's connections leave the room at once. */
  | { type: 'member-removed'; roomId: string; memberId: string }
  | { type: 'room-deleted'; roomId: string }
  /** Someone connected to or left the room: member lists with presence are sent again. */
  | { type: 'presence'; roomId: string };

export type RoomListener = (notice: RoomNotice) => void;

export interface RoomBus {
  /**
   * Delivers the notice to every listener of its room: this process's at once (before the promise settles), other
   * instances' as soon as the transport carries it. Notices of one room from one instance arrive in order.
   */
  publish(notice: RoomNotice): Promise<void>;
  /** Listens to one room's notices until the returned function is called. */
  listen(roomId: string, listener: RoomListener): () => void;
  /** Marks one connection of `memberId` as present in the room (and publishes `presence`). */
  enter(roomId: string, memberId: string, connectionId: string): Promise<void>;
  /** Ends that connection's presence (and publishes `presence`). */
  exit(roomId: string, memberId: string, connectionId: string): Promise<void>;
  /** The members with at least one connection in the room, on any instance. */
  present(roomId: string): Promise<Set<string>>;
  close(): Promise<void>;
}
