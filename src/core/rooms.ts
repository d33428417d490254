// Rooms: shared conversations that several signed-in principals join. The store contract, and the rules for who may
// read, ask and manage one. A non-member is told a room does not exist, so room ids cannot be probed.

import { RivuletError } from './errors.ts';
import type { Principal } from './principal.ts';

export type RoomRole = 'owner' | 'member';

export interface Room {
  /** `room_<uuid>`; also the id of the room's conversation (owned by `roomOwnerId(id)`). */
  id: string;
  name: string;
  /** The principal who created it (`user:<sub>` or `key:<id>`). */
  ownerId: string;
  /** The creator's organisation: its admins may manage the room. */
  orgId: string | null;
  /** The chatbot that answers in this room. */
  chatbotId: string;
  createdAt: number;
}

export interface RoomMember {
  roomId: string;
  /** A principal id. */
  memberId: string;
  role: RoomRole;
  addedAt: number;
}

/** A member and whether they have a socket in the room now, on any instance. */
export interface RoomMemberView extends RoomMember {
  online: boolean;
}

/** A room with its members: the answer to creating or reading one. */
export interface RoomView {
  room: Room;
  members: RoomMemberView[];
}

/** A question asked in a room: who asked, what, and the run that answers it. */
export interface RoomQuestion {
  roomId: string;
  runId: string;
  memberId: string;
  text: string;
  askedAt: number;
}

export interface NewRoom {
  id: string;
  name: string;
  ownerId: string;
  orgId: string | null;
  chatbotId: string;
}

export interface RoomStore {
  /** Stores the room with its owner as its first member (role `owner`). An id already taken rejects. */
  createRoom(input: NewRoom): Promise<Room>;
  getRoom(roomId: string): Promise<Room | undefined>;
  /** The rooms `memberId` belongs to, newest first (ties by id). */
  listRooms(memberId: string): Promise<Room[]>;
  /** The owner first, then members in the order they were added. */
  listMembers(roomId: string): Promise<RoomMember[]>;
  getMember(roomId: string, memberId: string): Promise<RoomMember | undefined>;
  /**
   * Adds a member; adding one already there returns the existing membership unchanged. Undefined when the room does
   * not exist.
   */
  addMember(roomId: string, memberId: string): Promise<RoomMember | undefined>;
  /** False when there was no such member. The caller keeps the owner (see ROOM_OWNER_STAYS). */
  removeMember(roomId: string, memberId: string): Promise<boolean>;
  countMembers(roomId: string): Promise<number>;
  /** Keeps a question asked in the room (who asked it, which run answers it). */
  recordQuestion(question: RoomQuestion): Promise<void>;
  /** The room's newest `limit` questions, oldest first. */
  listQuestions(roomId: string, limit?: number): Promise<RoomQuestion[]>;
  /** Removes the room, its members and its questions; false when it did not exist. */
  deleteRoom(roomId: string): Promise<boolean>;
}

/** Members one room may have at most (ROOM_FULL beyond). */
export const ROOM_MAX_MEMBERS = 100;

const ROOM_OWNER_PREFIX = 'room:';

/** The owner id of a room's conversation and of the runs that answer in it: what marks a run as the room's. */
export function roomOwnerId(roomId: string): string {
  return `${ROOM_OWNER_PREFIX}${roomId}`;
}

/** The room a run or conversation belongs to, from its owner id; undefined when it is a principal's own. */
export function roomOfOwner(ownerId: string | null): string | undefined {
  return ownerId?.startsWith(ROOM_OWNER_PREFIX) === true
    ? ownerId.slice(ROOM_OWNER_PREFIX.length)
    : undefined;
}

/**
 * The principal id a room knows this principal by. Rooms are for signed-in principals (users and API keys): an open
 * local install has one user and anonymous visitors have no lasting identity, so both are refused.
 */
export function roomPrincipalId(principal: Principal): string {
  if (principal.id === null || principal.kind === 'anonymous' || principal.kind === 'local') {
    throw new RivuletError('ROOMS_NEED_SIGN_IN');
  }
  return principal.id;
}

/** Owners manage their room; so do admins of its organisation (admins of no organisation: every room). */
export function canManageRoom(principal: Principal, room: Pick<Room, 'ownerId' | 'orgId'>): boolean {
  if (principal.id !== null && principal.id === room.ownerId) return true;
  if (!principal.admin || principal.kind === 'anonymous') return false;
  return principal.orgId === null || principal.orgId === room.orgId;
}
