// Rooms in SQLite: the room, its members and its questions, listed in the order they were added (rowid).

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { NewRoom, Room, RoomMember, RoomQuestion, RoomStore } from '../../core/rooms.ts';
import {
  toRoom,
  toRoomMember,
  toRoomQuestion,
  type RoomMemberRow,
  type RoomQuestionRow,
  type RoomRow,
} from '../rows/rooms.ts';

type Statement =
  | 'insertRoom'
  | 'getRoom'
  | 'listRooms'
  | 'listMembers'
  | 'getMember'
  | 'insertMember'
  | 'removeMember'
  | 'countMembers'
  | 'insertQuestion'
  | 'listQuestions'
  | 'deleteRoom';

export class SqliteRoomStore implements RoomStore {
  private readonly db: DatabaseSync;
  private readonly statements: Record<Statement, StatementSync>;

  constructor(db: DatabaseSync) {
    this.db = db;
    this.statements = {
      insertRoom: db.prepare(
        `INSERT INTO rooms (id, name, owner_id, org_id, chatbot_id, created_at) VALUES (?, ?, ?, ?, ?, ?)
         RETURNING *`,
      ),
      getRoom: db.prepare('SELECT * FROM rooms WHERE id = ?'),
      listRooms: db.prepare(
        `SELECT rooms.* FROM rooms JOIN room_members ON room_members.room_id = rooms.id
         WHERE room_members.member_id = ? ORDER BY rooms.created_at DESC, rooms.id DESC`,
      ),
      listMembers: db.prepare(
        `SELECT * FROM room_members WHERE room_id = ? ORDER BY role = 'owner' DESC, rowid`,
      ),
      getMember: db.prepare('SELECT * FROM room_members WHERE room_id = ? AND member_id = ?'),
      insertMember: db.prepare(
        `INSERT INTO room_members (room_id, member_id, role, added_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (room_id, member_id) DO NOTHING`,
      ),
      removeMember: db.prepare('DELETE FROM room_members WHERE room_id = ? AND member_id = ?'),
      countMembers: db.prepare('SELECT count(*) AS count FROM room_members WHERE room_id = ?'),
      insertQuestion: db.prepare(
        `INSERT INTO room_questions (room_id, run_id, member_id, text, asked_at) VALUES (?, ?, ?, ?, ?)`,
      ),
      listQuestions: db.prepare(
        `SELECT * FROM (SELECT rowid AS position, * FROM room_questions WHERE room_id = ?
         ORDER BY rowid DESC LIMIT ?) ORDER BY position`,
      ),
      deleteRoom: db.prepare('DELETE FROM rooms WHERE id = ?'),
    };
  }

  async createRoom(input: NewRoom): Promise<Room> {
    const now = Date.now();
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const row = this.statements.insertRoom.get(
        input.id,
        input.name,
        input.ownerId,
        input.orgId,
        input.chatbotId,
        now,
      ) as unknown as RoomRow;
      this.statements.insertMember.run(input.id, input.ownerId, 'owner', now);
      this.db.exec('COMMIT');
      return toRoom(row);
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
  }

  async getRoom(roomId: string): Promise<Room | undefined> {
    const row = this.statements.getRoom.get(roomId) as RoomRow | undefined;
    return row === undefined ? undefined : toRoom(row);
  }

  async listRooms(memberId: string): Promise<Room[]> {
    return (this.statements.listRooms.all(memberId) as unknown as RoomRow[]).map(toRoom);
  }

  async listMembers(roomId: string): Promise<RoomMember[]> {
    return (this.statements.listMembers.all(roomId) as unknown as RoomMemberRow[]).map(toRoomMember);
  }

  async getMember(roomId: string, memberId: string): Promise<RoomMember | undefined> {
    const row = this.statements.getMember.get(roomId, memberId) as RoomMemberRow | undefined;
    return row === undefined ? undefined : toRoomMember(row);
  }

  async addMember(roomId: string, memberId: string): Promise<RoomMember | undefined> {
    if (this.statements.getRoom.get(roomId) === undefined) return undefined;
    this.statements.insertMember.run(roomId, memberId, 'member', Date.now());
    return this.getMember(roomId, memberId);
  }

  async removeMember(roomId: string, memberId: string): Promise<boolean> {
    return Number(this.statements.removeMember.run(roomId, memberId).changes) > 0;
  }

  async countMembers(roomId: string): Promise<number> {
    return (this.statements.countMembers.get(roomId) as { count: number }).count;
  }

  async recordQuestion(question: RoomQuestion): Promise<void> {
    this.statements.insertQuestion.run(
      question.roomId,
      question.runId,
      question.memberId,
      question.text,
      question.askedAt,
    );
  }

  async listQuestions(roomId: string, limit = 50): Promise<RoomQuestion[]> {
    return (this.statements.listQuestions.all(roomId, limit) as unknown as RoomQuestionRow[]).map(
      toRoomQuestion,
    );
  }

  async deleteRoom(roomId: string): Promise<boolean> {
    return Number(this.statements.deleteRoom.run(roomId).changes) > 0;
  }
}
