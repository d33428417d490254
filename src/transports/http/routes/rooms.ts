// /api/rooms: create a room (the caller owns it), list the caller's rooms, read one with its members and presence,
// read its conversation, invite and remove members (the owner or an admin), delete it. Asking and the live answers
// go over the WebSocket (`room-join`, `room-ask`: ws-rooms.ts).

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { idSchema, parseWith } from '../../schemas.ts';
import { principalOf } from '../access.ts';
import type { AppContext } from '../context.ts';

const newRoomBody = z.strictObject({
  name: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(120)
    .refine((value) => !/\p{Cc}/u.test(value), 'must be one line without control characters'),
  chatbotId: idSchema.optional(),
});
/** A principal id as rooms know members: `user:<sub>` or `key:<id>`. */
const memberIdSchema = z
  .string()
  .max(300)
  .regex(/^(user|key):[^\s\p{Cc}]{1,290}$/u, 'must be a signed-in principal id: user:<sub> or key:<id>');
const newMemberBody = z.strictObject({ memberId: memberIdSchema });
const roomParams = z.strictObject({ roomId: idSchema });
const memberParams = z.strictObject({ roomId: idSchema, memberId: memberIdSchema });
const messagesQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(200).default(50) });

export function registerRoomRoutes(server: FastifyInstance, context: AppContext): void {
  const { rooms } = context;

  server.post('/api/rooms', async (request, reply) => {
    const body = parseWith(newRoomBody, request.body);
    return reply.code(201).send(await rooms.create(principalOf(request), body));
  });

  server.get('/api/rooms', async (request) => ({ rooms: await rooms.list(principalOf(request)) }));

  server.get('/api/rooms/:roomId', async (request) => {
    const { roomId } = parseWith(roomParams, request.params, 'path');
    return rooms.view(principalOf(request), roomId);
  });

  server.get('/api/rooms/:roomId/messages', async (request) => {
    const { roomId } = parseWith(roomParams, request.params, 'path');
    const { limit } = parseWith(messagesQuery, request.query, 'query');
    return rooms.history(principalOf(request), roomId, limit);
  });

  server.post('/api/rooms/:roomId/members', async (request, reply) => {
    const { roomId } = parseWith(roomParams, request.params, 'path');
    const { memberId } = parseWith(newMemberBody, request.body);
    return reply.code(201).send(await rooms.invite(principalOf(request), roomId, memberId));
  });

  server.delete('/api/rooms/:roomId/members/:memberId', async (request, reply) => {
    const { roomId, memberId } = parseWith(memberParams, request.params, 'path');
    await rooms.remove(principalOf(request), roomId, memberId);
    return reply.code(204).send();
  });

  server.delete('/api/rooms/:roomId', async (request, reply) => {
    const { roomId } = parseWith(roomParams, request.params, 'path');
    await rooms.delete(principalOf(request), roomId);
    return reply.code(204).send();
  });
}
