// The rooms, room_members and room_questions rows and the objects they hold, for every backend.

import type { Room, RoomMember, RoomQuestion, RoomRole } from '../../core/rooms.ts';

export interface RoomRow {
  id: string;
  name: string;
  owner_id: string;
  org_id: string | null;
  chatbot_id: string;
  created_at: number;
}

export interface RoomMemberRow {
  room_id: string;
  member_id: string;
  role: string;
  added_at: number;
}

export interface RoomQuestionRow {
  room_id: string;
  run_id: string;
  member_id: string;
  text: string;
  asked_at: number;
}

export function toRoom(row: RoomRow): Room {
  return {
    id: row.id,
    name: row.name,
    ownerId: row.owner_id,
    orgId: row.org_id,
    chatbotId: row.chatbot_id,
    createdAt: row.created_at,
  };
}

export function toRoomMember(row: RoomMemberRow): RoomMember {
  return {
    roomId: row.room_id,
    memberId: row.member_id,
    role: row.role === 'owner' ? 'owner' : ('member' satisfies RoomRole),
    addedAt: row.added_at,
  };
}

export function toRoomQuestion(row: RoomQuestionRow): RoomQuestion {
  return {
    roomId: row.room_id,
    runId: row.run_id,
    memberId: row.member_id,
    text: row.text,
    askedAt: row.asked_at,
  };
}
