// What can be done with rooms, whatever the transport: create, list, view, invite, remove, delete, and ask. Every
// change is published on the room bus, so connections on every instance hear of it; answers are ordinary runs owned
// by the room (`room:<roomId>`), read through the run hub like any other.

import { randomUUID } from 'node:crypto';
import type { ChatService, StartChatInput } from './chat-service.ts';
import type { ChatbotStore } from './chatbots.ts';
import type { ConversationStore, StoredMessage } from './conversation-store.ts';
import { RivuletError } from './errors.ts';
import type { Logger } from './logger.ts';
import { chatRefusal, type Principal } from './principal.ts';
import type { RoomBus } from './room-bus.ts';
import type { RunHub, RunInfo, RunProducer } from './run-hub.ts';
import {
  canManageRoom,
  roomOfOwner,
  roomOwnerId,
  roomPrincipalId,
  ROOM_MAX_MEMBERS,
  type Room,
  type RoomMember,
  type RoomMemberView,
  type RoomView,
  type RoomQuestion,
  type RoomStore,
} from './rooms.ts';

/** A member as clients see it: with whether they have a connection in the room now. */
export type { RoomMemberView, RoomView } from './rooms.ts';

export interface RoomServiceDeps {
  rooms: RoomStore;
  conversations: ConversationStore;
  chatbots: ChatbotStore;
  chat: Pick<ChatService, 'start'>;
  hub: Pick<RunHub, 'info' | 'stop'>;
  bus: RoomBus;
  defaultChatbotId: string;
  logger?: Logger | undefined;
}

/** What one room question asks: the chat request's fields that make sense in a shared conversation. */
export type RoomAskInput = Pick<StartChatInput, 'message' | 'temperature' | 'maxTokens' | 'metadata'>;

/** Questions a joining member is caught up on (the running answers among them are replayed). */
const CATCH_UP_QUESTIONS = 20;

export class RoomService {
  private readonly deps: RoomServiceDeps;

  constructor(deps: RoomServiceDeps) {
    this.deps = deps;
  }

  /** A new room owned by the caller, answered by `chatbotId` (one the caller may talk to), with its conversation. */
  async create(
    principal: Principal,
    input: { name: string; chatbotId?: string | undefined },
  ): Promise<RoomView> {
    const ownerId = roomPrincipalId(principal);
    const chatbot = await this.deps.chatbots.getChatbot(input.chatbotId ?? this.deps.defaultChatbotId);
    if (chatbot === undefined || chatRefusal(principal, chatbot) !== undefined) {
      throw new RivuletError('CHATBOT_NOT_FOUND');
    }
    const id = `room_${randomUUID()}`;
    // The room's conversation shares its id; it belongs to the room, not to any one member.
    await this.deps.conversations.createConversation(roomOwnerId(id), chatbot.id, id);
    try {
      const room = await this.deps.rooms.createRoom({
        id,
        name: input.name,
        ownerId,
        orgId: principal.orgId,
        chatbotId: chatbot.id,
      });
      return { room, members: await this.members(room.id) };
    } catch (error) {
      await this.deps.conversations.deleteConversation(id).catch(() => false);
      throw error;
    }
  }

  /** The caller's rooms, newest first. */
  async list(principal: Principal): Promise<Room[]> {
    return this.deps.rooms.listRooms(roomPrincipalId(principal));
  }

  /** A room the caller belongs to (or manages), with its members and their presence. */
  async view(principal: Principal, roomId: string): Promise<RoomView> {
    const room = await this.visible(principal, roomId);
    return { room, members: await this.members(room.id) };
  }

  /**
   * The room and the caller's member id, for a member only: anyone else (admins included: they manage rooms, they do
   * not read them) gets ROOM_NOT_FOUND, as for a room that does not exist.
   */
  async membership(principal: Principal, roomId: string): Promise<{ room: Room; memberId: string }> {
    const memberId = roomPrincipalId(principal);
    const [room, member] = await Promise.all([
      this.deps.rooms.getRoom(roomId),
      this.deps.rooms.getMember(roomId, memberId),
    ]);
    if (room === undefined || member === undefined) throw new RivuletError('ROOM_NOT_FOUND');
    return { room, memberId };
  }

  /** The conversation so far and who asked each question: for members. */
  async history(
    principal: Principal,
    roomId: string,
    limit: number,
  ): Promise<{ room: Room; messages: StoredMessage[]; questions: RoomQuestion[] }> {
    const { room } = await this.membership(principal, roomId);
    const [messages, questions] = await Promise.all([
      this.deps.conversations.listMessages(room.id, limit),
      this.deps.rooms.listQuestions(room.id, limit),
    ]);
    return { room, messages, questions };
  }

  /** The owner or an admin adds a member (a principal id: `user:<sub>` or `key:<id>`). */
  async invite(principal: Principal, roomId: string, memberId: string): Promise<RoomMember> {
    const room = await this.managed(principal, roomId);
    const existing = await this.deps.rooms.getMember(room.id, memberId);
    if (existing !== undefined) return existing;
    if ((await this.deps.rooms.countMembers(room.id)) >= ROOM_MAX_MEMBERS) {
      throw new RivuletError('ROOM_FULL', {
        message: `This room has ${ROOM_MAX_MEMBERS} members, as many as a room may have.`,
      });
    }
    const member = await this.deps.rooms.addMember(room.id, memberId);
    if (member === undefined) throw new RivuletError('ROOM_NOT_FOUND');
    await this.publish({ type: 'member-added', roomId: room.id, memberId });
    return member;
  }

  /**
   * The owner or an admin removes a member; a member may remove themselves (leave the room for good). The member's
   * connections on this instance leave the room before this resolves; on other instances as soon as the bus says.
   */
  async remove(principal: Principal, roomId: string, memberId: string): Promise<void> {
    const self = principal.id !== null && principal.id === memberId;
    const room = self
      ? (await this.membership(principal, roomId)).room
      : await this.managed(principal, roomId);
    if (memberId === room.ownerId) throw new RivuletError('ROOM_OWNER_STAYS');
    if (!(await this.deps.rooms.removeMember(room.id, memberId))) {
      throw new RivuletError('ROOM_MEMBER_NOT_FOUND');
    }
    await this.publish({ type: 'member-removed', roomId: room.id, memberId });
  }

  /** The owner or an admin deletes the room, its members, its questions and its conversation. */
  async delete(principal: Principal, roomId: string): Promise<void> {
    const room = await this.managed(principal, roomId);
    await this.deps.rooms.deleteRoom(room.id);
    await this.deps.conversations.deleteConversation(room.id);
    await this.publish({ type: 'room-deleted', roomId: room.id });
  }

  /**
   * A member asks: the answer is a run in the room's conversation, owned by the room; the question is kept with who
   * asked it and published, so every member's connection follows the run from its first event.
   */
  async ask(principal: Principal, roomId: string, input: RoomAskInput): Promise<RunProducer> {
    const { room, memberId } = await this.membership(principal, roomId);
    const run = await this.deps.chat.start({ ...input, conversationId: room.id }, principal, {
      ownerId: roomOwnerId(room.id),
    });
    const question: RoomQuestion = {
      roomId: room.id,
      runId: run.runId,
      memberId,
      text: input.message,
      askedAt: Date.now(),
    };
    try {
      await this.deps.rooms.recordQuestion(question);
    } catch (error) {
      // Nobody else could learn of this answer: stop it before the model writes for the asker alone.
      await this.deps.hub.stop(run.runId);
      throw error;
    }
    // The run goes on whether or not other instances heard of it: members there catch up when they (re)join.
    await this.publish({ type: 'question', ...question }).catch((error: unknown) =>
      this.deps.logger?.warn(
        { err: error, roomId: room.id },
        'room question not published to other instances',
      ),
    );
    return run;
  }

  /** The room's latest questions whose answers are still running: what a joining member is caught up on. */
  async runningQuestions(roomId: string): Promise<RoomQuestion[]> {
    const questions = await this.deps.rooms.listQuestions(roomId, CATCH_UP_QUESTIONS);
    const infos = await Promise.all(questions.map((question) => this.deps.hub.info(question.runId)));
    return questions.filter((_, index) => infos[index]?.state === 'running');
  }

  /**
   * A room's run the caller may read or stop (a member of its room), for resume and stop by run id; undefined when
   * the run is not a room's, so the caller applies the ordinary owner rule. A room's run is RUN_NOT_FOUND to anyone
   * else.
   */
  async roomRun(principal: Principal, runId: string): Promise<{ info: RunInfo; roomId: string } | undefined> {
    const info = await this.deps.hub.info(runId);
    const roomId = roomOfOwner(info?.ownerId ?? null);
    if (info === undefined || roomId === undefined) return undefined;
    if (principal.id === null || (await this.deps.rooms.getMember(roomId, principal.id)) === undefined) {
      throw new RivuletError('RUN_NOT_FOUND');
    }
    return { info, roomId };
  }

  /** The members, owner first, each with whether a connection of theirs is in the room now (on any instance). */
  async members(roomId: string): Promise<RoomMemberView[]> {
    const [members, present] = await Promise.all([
      this.deps.rooms.listMembers(roomId),
      this.deps.bus.present(roomId),
    ]);
    return members.map((member) => ({ ...member, online: present.has(member.memberId) }));
  }

  get bus(): RoomBus {
    return this.deps.bus;
  }

  /** A room the caller belongs to or manages; ROOM_NOT_FOUND for anyone else. */
  private async visible(principal: Principal, roomId: string): Promise<Room> {
    const memberId = roomPrincipalId(principal);
    const room = await this.deps.rooms.getRoom(roomId);
    if (room === undefined) throw new RivuletError('ROOM_NOT_FOUND');
    if (canManageRoom(principal, room)) return room;
    if ((await this.deps.rooms.getMember(roomId, memberId)) === undefined) {
      throw new RivuletError('ROOM_NOT_FOUND');
    }
    return room;
  }

  /** A room the caller may manage; a member who may not gets ROOM_FORBIDDEN, anyone else ROOM_NOT_FOUND. */
  private async managed(principal: Principal, roomId: string): Promise<Room> {
    const room = await this.visible(principal, roomId);
    if (!canManageRoom(principal, room)) throw new RivuletError('ROOM_FORBIDDEN');
    return room;
  }

  private async publish(notice: Parameters<RoomBus['publish']>[0]): Promise<void> {
    await this.deps.bus.publish(notice);
  }
}
