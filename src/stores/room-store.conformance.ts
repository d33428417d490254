// Conformance suite for the RoomStore contract (src/core/rooms.ts): every backend runs it, SQLite in
// sqlite/sqlite-stores.test.ts and PostgreSQL in postgres/postgres-stores.test.ts.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewRoom } from '../core/rooms.ts';
import type { Stores } from './stores.ts';

function newRoom(id: string, ownerId = 'user:ana', overrides: Partial<NewRoom> = {}): NewRoom {
  return { id, name: `Room ${id}`, ownerId, orgId: null, chatbotId: 'default', ...overrides };
}

export function describeRoomStoreConformance(name: string, open: () => Promise<Stores> | Stores): void {
  describe(`room store conformance: ${name}`, () => {
    let stores: Stores;
    beforeEach(async () => {
      stores = await open();
    });
    afterEach(async () => {
      await stores.close();
    });

    it('creates a room with its owner as first member, and refuses an id already taken', async () => {
      const { rooms } = stores;
      const room = await rooms.createRoom(
        newRoom('room_a', 'user:ana', { orgId: 'acme', name: 'Ops\ttalk' }),
      );
      expect(room).toEqual({
        id: 'room_a',
        name: 'Ops\ttalk',
        ownerId: 'user:ana',
        orgId: 'acme',
        chatbotId: 'default',
        createdAt: expect.any(Number) as number,
      });
      expect(await rooms.getRoom('room_a')).toEqual(room);
      expect(await rooms.getRoom('room_missing')).toBeUndefined();
      expect(await rooms.listMembers('room_a')).toEqual([
        { roomId: 'room_a', memberId: 'user:ana', role: 'owner', addedAt: room.createdAt },
      ]);
      await expect(rooms.createRoom(newRoom('room_a', 'user:bob'))).rejects.toThrow();
      expect((await rooms.getRoom('room_a'))?.ownerId).toBe('user:ana');
      expect(await rooms.countMembers('room_a')).toBe(1);
    });

    it('adds members once, in order, lists each member’s rooms and removes members', async () => {
      const { rooms } = stores;
      await rooms.createRoom(newRoom('room_a'));
      await rooms.createRoom(newRoom('room_b', 'user:bob'));
      const bob = await rooms.addMember('room_a', 'user:bob');
      expect(bob).toMatchObject({ roomId: 'room_a', memberId: 'user:bob', role: 'member' });
      await rooms.addMember('room_a', 'key:k1');
      // Adding again changes nothing, the owner included.
      expect(await rooms.addMember('room_a', 'user:bob')).toEqual(bob);
      expect(await rooms.addMember('room_a', 'user:ana')).toMatchObject({ role: 'owner' });
      expect(await rooms.addMember('room_missing', 'user:bob')).toBeUndefined();
      expect((await rooms.listMembers('room_a')).map((member) => member.memberId)).toEqual([
        'user:ana',
        'user:bob',
        'key:k1',
      ]);
      expect(await rooms.countMembers('room_a')).toBe(3);
      expect((await rooms.listRooms('user:bob')).map((room) => room.id).sort()).toEqual(['room_a', 'room_b']);
      expect((await rooms.listRooms('user:ana')).map((room) => room.id)).toEqual(['room_a']);
      expect(await rooms.listRooms('user:nobody')).toEqual([]);

      expect(await rooms.removeMember('room_a', 'user:bob')).toBe(true);
      expect(await rooms.removeMember('room_a', 'user:bob')).toBe(false);
      expect(await rooms.getMember('room_a', 'user:bob')).toBeUndefined();
      expect(await rooms.getMember('room_a', 'key:k1')).toMatchObject({ role: 'member' });
      expect((await rooms.listRooms('user:bob')).map((room) => room.id)).toEqual(['room_b']);
    });

    it('keeps the questions asked, newest limited, oldest first', async () => {
      const { rooms } = stores;
      await rooms.createRoom(newRoom('room_a'));
      for (let index = 0; index < 4; index += 1) {
        await rooms.recordQuestion({
          roomId: 'room_a',
          runId: `run_${index}`,
          memberId: index % 2 === 0 ? 'user:ana' : 'user:bob',
          text: `question ${index}`,
          askedAt: 1000,
        });
      }
      const all = await rooms.listQuestions('room_a');
      expect(all.map((question) => question.runId)).toEqual(['run_0', 'run_1', 'run_2', 'run_3']);
      expect(all[1]).toEqual({
        roomId: 'room_a',
        runId: 'run_1',
        memberId: 'user:bob',
        text: 'question 1',
        askedAt: 1000,
      });
      expect((await rooms.listQuestions('room_a', 2)).map((question) => question.runId)).toEqual([
        'run_2',
        'run_3',
      ]);
      expect(await rooms.listQuestions('room_missing')).toEqual([]);
    });

    it('deletes a room with its members and questions', async () => {
      const { rooms } = stores;
      await rooms.createRoom(newRoom('room_a'));
      await rooms.addMember('room_a', 'user:bob');
      await rooms.recordQuestion({
        roomId: 'room_a',
        runId: 'run_1',
        memberId: 'user:bob',
        text: 'q',
        askedAt: 1,
      });
      expect(await rooms.deleteRoom('room_a')).toBe(true);
      expect(await rooms.deleteRoom('room_a')).toBe(false);
      expect(await rooms.getRoom('room_a')).toBeUndefined();
      expect(await rooms.listMembers('room_a')).toEqual([]);
      expect(await rooms.listRooms('user:bob')).toEqual([]);
      expect(await rooms.listQuestions('room_a')).toEqual([]);
      // The id is free again.
      await rooms.createRoom(newRoom('room_a', 'user:bob'));
      expect(await rooms.listMembers('room_a')).toMatchObject([{ memberId: 'user:bob', role: 'owner' }]);
    });
  });
}
