// Rooms in PostgreSQL: the room, its members and its questions, listed in the order they were added (seq).

import type { NewRoom, Room, RoomMember, RoomQuestion, RoomStore } from '../../core/rooms.ts';
import {
  toRoom,
  toRoomMember,
  toRoomQuestion,
  type RoomMemberRow,
  type RoomQuestionRow,
  type RoomRow,
} from '../rows/rooms.ts';
import { pgText, type Sql } from './database.ts';

export class PostgresRoomStore implements RoomStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  async createRoom(input: NewRoom): Promise<Room> {
    const now = Date.now();
    return this.sql.begin(async (tx) => {
      const [row] = await tx<RoomRow[]>`
        INSERT INTO rooms (id, name, owner_id, org_id, chatbot_id, created_at)
        VALUES (${input.id}, ${pgText(input.name)}, ${pgText(input.ownerId)},
          ${input.orgId === null ? null : pgText(input.orgId)}, ${input.chatbotId}, ${now})
        RETURNING *`;
      if (row === undefined) throw new Error('the room was not stored');
      await tx`
        INSERT INTO room_members (room_id, member_id, role, added_at)
        VALUES (${input.id}, ${pgText(input.ownerId)}, 'owner', ${now})`;
      return toRoom(row);
    });
  }

  async getRoom(roomId: string): Promise<Room | undefined> {
    const [row] = await this.sql<RoomRow[]>`SELECT * FROM rooms WHERE id = ${pgText(roomId)}`;
    return row === undefined ? undefined : toRoom(row);
  }

  async listRooms(memberId: string): Promise<Room[]> {
    const rows = await this.sql<RoomRow[]>`
      SELECT rooms.* FROM rooms JOIN room_members ON room_members.room_id = rooms.id
      WHERE room_members.member_id = ${pgText(memberId)}
      ORDER BY rooms.created_at DESC, rooms.id DESC`;
    return rows.map(toRoom);
  }

  async listMembers(roomId: string): Promise<RoomMember[]> {
    const rows = await this.sql<RoomMemberRow[]>`
      SELECT room_id, member_id, role, added_at FROM room_members WHERE room_id = ${pgText(roomId)}
      ORDER BY role = 'owner' DESC, seq`;
    return rows.map(toRoomMember);
  }

  async getMember(roomId: string, memberId: string): Promise<RoomMember | undefined> {
    const [row] = await this.sql<RoomMemberRow[]>`
      SELECT room_id, member_id, role, added_at FROM room_members
      WHERE room_id = ${pgText(roomId)} AND member_id = ${pgText(memberId)}`;
    return row === undefined ? undefined : toRoomMember(row);
  }

  async addMember(roomId: string, memberId: string): Promise<RoomMember | undefined> {
    // Inserted only while the room exists (a room deleted meanwhile takes nobody new).
    await this.sql`
      INSERT INTO room_members (room_id, member_id, role, added_at)
      SELECT id, ${pgText(memberId)}, 'member', ${Date.now()} FROM rooms WHERE id = ${pgText(roomId)}
      ON CONFLICT (room_id, member_id) DO NOTHING`;
    return this.getMember(roomId, memberId);
  }

  async removeMember(roomId: string, memberId: string): Promise<boolean> {
    const result = await this.sql`
      DELETE FROM room_members WHERE room_id = ${pgText(roomId)} AND member_id = ${pgText(memberId)}`;
    return result.count > 0;
  }

  async countMembers(roomId: string): Promise<number> {
    const [row] = await this.sql<{ count: number }[]>`
      SELECT count(*)::int AS count FROM room_members WHERE room_id = ${pgText(roomId)}`;
    return row?.count ?? 0;
  }

  async recordQuestion(question: RoomQuestion): Promise<void> {
    await this.sql`
      INSERT INTO room_questions (room_id, run_id, member_id, text, asked_at)
      VALUES (${pgText(question.roomId)}, ${pgText(question.runId)}, ${pgText(question.memberId)},
        ${pgText(question.text)}, ${question.askedAt})`;
  }

  async listQuestions(roomId: string, limit = 50): Promise<RoomQuestion[]> {
    const rows = await this.sql<RoomQuestionRow[]>`
      SELECT room_id, run_id, member_id, text, asked_at FROM (
        SELECT * FROM room_questions WHERE room_id = ${pgText(roomId)} ORDER BY seq DESC LIMIT ${limit}
      ) AS newest ORDER BY seq`;
    return rows.map(toRoomQuestion);
  }

  async deleteRoom(roomId: string): Promise<boolean> {
    const result = await this.sql`DELETE FROM rooms WHERE id = ${pgText(roomId)}`;
    return result.count > 0;
  }
}
