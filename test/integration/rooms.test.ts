// Rooms: several signed-in users share one conversation over WebSocket. Every member sees each question and its
// answer streaming, in the same order; a late joiner catches up from the run log; non-members learn nothing; a removed
// member's socket stops at once. Runs on the memory hub and (redis project) the Redis hub and room bus.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RoomMemberView } from '../../src/core/room-service.ts';
import type { ServerFrame } from '../../src/transports/encoders/ws-frame.ts';
import { call, expectRefusal } from '../helpers/http.ts';
import { signTestJwt } from '../helpers/jwt.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { connectWs, isTerminalFrame, type WsTestClient } from '../helpers/ws-client.ts';

const SECRET = 'rivulet-rooms-test-secret-of-more-than-32-chars';

let server: TestServer;
const tokens = new Map<string, string>();
const clients: WsTestClient[] = [];

async function auth(user: string): Promise<Record<string, string>> {
  let token = tokens.get(user);
  if (token === undefined) {
    token = await signTestJwt(SECRET, user);
    tokens.set(user, token);
  }
  return { authorization: `Bearer ${token}` };
}

async function connect(user: string): Promise<WsTestClient> {
  const client = await connectWs(server.url, { headers: await auth(user) });
  clients.push(client);
  return client;
}

async function createRoom(owner: string, members: string[] = []): Promise<string> {
  const created = await call(server, '/api/rooms', {
    headers: await auth(owner),
    json: { name: `${owner}'s room` },
  });
  expect(created.status).toBe(201);
  const roomId = (created.body.room as { id: string }).id;
  for (const member of members) {
    const invited = await call(server, `/api/rooms/${roomId}/members`, {
      headers: await auth(owner),
      json: { memberId: `user:${member}` },
    });
    expect(invited.status).toBe(201);
  }
  return roomId;
}

let requests = 0;
/** Sends a message and waits for the frame answering its requestId. */
async function request(client: WsTestClient, message: Record<string, unknown>): Promise<ServerFrame> {
  requests += 1;
  const requestId = `r${requests}`;
  client.send({ ...message, requestId });
  return client.waitFor((frame) => 'requestId' in frame && frame.requestId === requestId);
}

async function join(client: WsTestClient, roomId: string, lastSeqs?: Record<string, number>) {
  const frame = await request(client, {
    type: 'room-join',
    roomId,
    ...(lastSeqs === undefined ? {} : { lastSeqs }),
  });
  expect(frame).toMatchObject({ type: 'room-joined', roomId });
  return frame;
}

async function ask(client: WsTestClient, roomId: string, message: string): Promise<string> {
  const frame = await request(client, { type: 'room-ask', roomId, message });
  if (frame.type !== 'accepted') throw new Error(`not accepted: ${JSON.stringify(frame)}`);
  return frame.runId;
}

/** Stops a run from this client and waits for the acknowledgement. */
async function stop(client: WsTestClient, runId: string): Promise<void> {
  client.send({ type: 'stop', runId });
  expect(await client.waitFor((frame) => frame.type === 'stopped' && frame.runId === runId)).toMatchObject({
    stopped: true,
  });
}

/** What a member saw of the room's answers: questions and run events, in arrival order. */
function roomStream(client: WsTestClient): string[] {
  return client.frames.flatMap((frame) => {
    if (frame.type === 'room-question') return [`question ${frame.runId} ${frame.memberId} ${frame.text}`];
    if (frame.type === 'event')
      return [`event ${frame.runId} ${frame.event.seq} ${JSON.stringify(frame.event)}`];
    return [];
  });
}

function runEvents(client: WsTestClient, runId: string) {
  return client.frames.flatMap((frame) =>
    frame.type === 'event' && frame.runId === runId ? [frame.event] : [],
  );
}

const tokenCount = (client: WsTestClient, runId: string): number =>
  runEvents(client, runId).filter((event) => event.type === 'token').length;

/** An answer as a reader sees it, whatever merging: its events other than tokens, and its text. */
function summarize(events: ReturnType<typeof runEvents>): { text: string; others: unknown[] } {
  return {
    text: events.map((event) => (event.type === 'token' ? event.text : '')).join(''),
    others: events.filter((event) => event.type !== 'token'),
  };
}

const answer = (client: WsTestClient, runId: string) => summarize(runEvents(client, runId));

const tokenText = (client: WsTestClient, runId: string): string =>
  runEvents(client, runId)
    .map((event) => (event.type === 'token' ? event.text : ''))
    .join('');

/** The client has every token the stalled upstream sent (tokens may arrive merged, so they are not counted). */
const hasAllSent = (client: WsTestClient, runId: string, stallAfter: number): boolean => {
  const sent = server.upstream.requests.at(-1);
  return sent?.tokensSent === stallAfter && tokenText(client, runId) === sent.textSent;
};

function online(members: RoomMemberView[]): string[] {
  return members.filter((member) => member.online).map((member) => member.memberId);
}

beforeAll(async () => {
  server = await startTestServer({ AUTH_JWT_SECRET: SECRET }, { tokenCount: 30, seed: 7 });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  for (const client of clients.splice(0)) client.socket.close();
  server.upstream.reset();
  server.upstream.setScenario({ tokenCount: 30, seed: 7 });
});

describe('rooms over WebSocket', () => {
  it('three members see every question and its answer, the same events in the same order', async () => {
    const roomId = await createRoom('ana', ['bob', 'cy']);
    const [ana, bob, cy] = await Promise.all([connect('ana'), connect('bob'), connect('cy')]);
    for (const client of [ana, bob, cy]) await join(client, roomId);

    const first = await ask(bob, roomId, 'How do refunds work?');
    for (const client of [ana, bob, cy]) await client.waitFor((frame) => isTerminalFrame(frame, first));
    const second = await ask(cy, roomId, 'And exchanges?');
    for (const client of [ana, bob, cy]) await client.waitFor((frame) => isTerminalFrame(frame, second));

    const seen = roomStream(ana);
    expect(roomStream(bob)).toEqual(seen);
    expect(roomStream(cy)).toEqual(seen);
    expect(seen[0]).toBe(`question ${first} user:bob How do refunds work?`);
    for (const runId of [first, second]) {
      const events = runEvents(ana, runId);
      expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
      expect(events.at(-1)).toMatchObject({ type: 'done', text: server.upstream.fullText() });
    }
    // The questions are kept with who asked them, and the answers in the room's conversation.
    const history = await call(server, `/api/rooms/${roomId}/messages`, { headers: await auth('cy') });
    expect(history.status).toBe(200);
    expect(history.body.questions).toMatchObject([
      { runId: first, memberId: 'user:bob', text: 'How do refunds work?' },
      { runId: second, memberId: 'user:cy', text: 'And exchanges?' },
    ]);
    expect(
      (history.body.messages as { role: string; status?: string }[]).map((message) => message.role),
    ).toEqual(['user', 'assistant', 'user', 'assistant']);
  });

  it('catches a member who joins mid-answer up from the run log, losing nothing', async () => {
    server.upstream.setScenario({ tokenCount: 40, seed: 3, stallAfter: 6 });
    const roomId = await createRoom('ana', ['bob', 'cy']);
    const [ana, bob] = await Promise.all([connect('ana'), connect('bob')]);
    await join(ana, roomId);
    await join(bob, roomId);
    const runId = await ask(ana, roomId, 'A long question');
    await bob.waitFor(() => tokenCount(bob, runId) > 0);

    const late = await connect('cy');
    await join(late, roomId);
    await late.waitFor(() => hasAllSent(late, runId, 6));
    expect(late.frames.find((frame) => frame.type === 'room-question')).toMatchObject({
      runId,
      memberId: 'user:ana',
      text: 'A long question',
    });
    // Any member may stop the room's answer; everyone gets the same ending.
    await stop(late, runId);
    for (const client of [ana, bob, late]) await client.waitFor((frame) => isTerminalFrame(frame, runId));
    // The same answer: every event but tokens alike, and the same text (a reader catching up gets tokens merged).
    expect(answer(late, runId)).toEqual(answer(ana, runId));
    expect(answer(bob, runId)).toEqual(answer(ana, runId));
    expect(runEvents(ana, runId).at(-1)).toMatchObject({ type: 'done', finishReason: 'aborted' });
  });

  it('resumes a member who dropped after the last event they had, through room-join or resume', async () => {
    server.upstream.setScenario({ tokenCount: 40, seed: 4, stallAfter: 8 });
    const roomId = await createRoom('ana', ['bob']);
    const ana = await connect('ana');
    await join(ana, roomId);
    const first = await connect('bob');
    await join(first, roomId);
    const runId = await ask(ana, roomId, 'Still there?');
    await first.waitFor(() => tokenCount(first, runId) >= 1);
    const had = runEvents(first, runId);
    const lastSeq = had.at(-1)?.seq ?? -1;
    first.socket.terminate();
    const again = await connect('bob');
    await join(again, roomId, { [runId]: lastSeq });
    const hadText = had.map((event) => (event.type === 'token' ? event.text : '')).join('');
    await again.waitFor(() => {
      const sent = server.upstream.requests.at(-1);
      return sent?.tokensSent === 8 && hadText + tokenText(again, runId) === sent.textSent;
    });
    const byResume = await connect('bob');
    expect(await request(byResume, { type: 'resume', runId, lastSeq })).toMatchObject({ type: 'resumed' });
    await stop(ana, runId);
    for (const client of [ana, again, byResume])
      await client.waitFor((frame) => isTerminalFrame(frame, runId));
    const whole = answer(ana, runId);
    for (const resumed of [again, byResume]) {
      const events = [...had, ...runEvents(resumed, runId)];
      // Nothing lost or repeated: seqs strictly increase, and the text and other events are the owner's.
      expect(events.map((event) => event.seq)).toEqual(
        [...new Set(events.map((event) => event.seq))].sort((a, b) => a - b),
      );
      expect(summarize(events)).toEqual(whole);
    }
  });

  it('pushes the member list with presence as members connect and leave', async () => {
    const roomId = await createRoom('ana', ['bob']);
    const ana = await connect('ana');
    const joined = await join(ana, roomId);
    expect(joined.type === 'room-joined' && online(joined.members)).toEqual(['user:ana']);
    const bob = await connect('bob');
    await join(bob, roomId);
    await ana.waitFor(
      (frame) => frame.type === 'room-members' && online(frame.members).join() === 'user:ana,user:bob',
    );
    bob.socket.close();
    const after = await ana.waitFor(
      (frame) =>
        frame.type === 'room-members' && online(frame.members).length === 1 && ana.frames.indexOf(frame) > 0,
    );
    expect(after.type === 'room-members' && after.members.map((member) => member.memberId)).toEqual([
      'user:ana',
      'user:bob',
    ]);
    const view = await call(server, `/api/rooms/${roomId}`, { headers: await auth('bob') });
    expect((view.body.members as RoomMemberView[]).map((member) => [member.memberId, member.role])).toEqual([
      ['user:ana', 'owner'],
      ['user:bob', 'member'],
    ]);
  });

  it('stops a removed member’s socket at once: no event after room-left, no later question', async () => {
    server.upstream.setScenario({ tokenCount: 2000, seed: 9, interTokenMs: 5 });
    const roomId = await createRoom('ana', ['bob', 'cy']);
    const [ana, bob, cy] = await Promise.all([connect('ana'), connect('bob'), connect('cy')]);
    for (const client of [ana, bob, cy]) await join(client, roomId);
    const runId = await ask(cy, roomId, 'Keep talking');
    await bob.waitFor(() => tokenCount(bob, runId) >= 3);

    const removed = await call(server, `/api/rooms/${roomId}/members/user:bob`, {
      method: 'DELETE',
      headers: await auth('ana'),
    });
    expect(removed.status).toBe(204);
    const left = await bob.waitFor((frame) => frame.type === 'room-left');
    expect(left).toMatchObject({ roomId, reason: 'removed' });
    // The answer goes on for the others...
    const atRemoval = tokenCount(ana, runId);
    await ana.waitFor(() => tokenCount(ana, runId) >= atRemoval + 20);
    await stop(ana, runId);
    await cy.waitFor((frame) => isTerminalFrame(frame, runId));
    // ...but nothing of it reached bob after he was told he was out.
    const leftAt = bob.frames.indexOf(left);
    expect(bob.frames.slice(leftAt + 1).filter((frame) => frame.type === 'event')).toEqual([]);
    // He cannot ask, rejoin, resume or stop: the room is gone for him.
    expect(await request(bob, { type: 'room-ask', roomId, message: 'hello?' })).toMatchObject({
      error: { code: 'ROOM_NOT_JOINED' },
    });
    expect(await request(bob, { type: 'room-join', roomId })).toMatchObject({
      error: { code: 'ROOM_NOT_FOUND' },
    });
    expect(await request(bob, { type: 'resume', runId })).toMatchObject({ error: { code: 'RUN_NOT_FOUND' } });
    server.upstream.setScenario({ tokenCount: 5, seed: 1 });
    const next = await ask(ana, roomId, 'Is bob gone?');
    await cy.waitFor((frame) => isTerminalFrame(frame, next));
    expect(bob.frames.some((frame) => frame.type === 'room-question' && frame.runId === next)).toBe(false);
    expect(bob.socket.readyState).toBe(bob.socket.OPEN);
  });

  it('tells members the room was deleted, and forgets it', async () => {
    const roomId = await createRoom('ana', ['bob']);
    const bob = await connect('bob');
    await join(bob, roomId);
    const refused = await call(server, `/api/rooms/${roomId}`, {
      method: 'DELETE',
      headers: await auth('bob'),
    });
    expectRefusal(refused, 403, 'ROOM_FORBIDDEN');
    const deleted = await call(server, `/api/rooms/${roomId}`, {
      method: 'DELETE',
      headers: await auth('ana'),
    });
    expect(deleted.status).toBe(204);
    expect(await bob.waitFor((frame) => frame.type === 'room-left')).toMatchObject({ reason: 'deleted' });
    expectRefusal(
      await call(server, `/api/rooms/${roomId}`, { headers: await auth('ana') }),
      404,
      'ROOM_NOT_FOUND',
    );
    const list = await call(server, '/api/rooms', { headers: await auth('bob') });
    expect((list.body.rooms as { id: string }[]).map((room) => room.id)).not.toContain(roomId);
  });
});

describe('room access and bad input', () => {
  it('answers a non-member exactly as for a room that does not exist', async () => {
    const roomId = await createRoom('ana', ['bob']);
    const outsider = await auth('mallory');
    const unknown = await call(server, '/api/rooms/room_nope', { headers: outsider });
    const hidden = await call(server, `/api/rooms/${roomId}`, { headers: outsider });
    expectRefusal(hidden, 404, 'ROOM_NOT_FOUND');
    expect(hidden.body).toEqual(unknown.body);
    for (const path of [`/api/rooms/${roomId}/messages`]) {
      expectRefusal(await call(server, path, { headers: outsider }), 404, 'ROOM_NOT_FOUND');
    }
    expectRefusal(
      await call(server, `/api/rooms/${roomId}/members`, {
        headers: outsider,
        json: { memberId: 'user:mallory' },
      }),
      404,
      'ROOM_NOT_FOUND',
    );
    expectRefusal(
      await call(server, `/api/rooms/${roomId}`, { method: 'DELETE', headers: outsider }),
      404,
      'ROOM_NOT_FOUND',
    );
    const list = await call(server, '/api/rooms', { headers: outsider });
    expect(list.body.rooms).toEqual([]);

    const mallory = await connect('mallory');
    const refusedJoin = await request(mallory, { type: 'room-join', roomId });
    const unknownJoin = await request(mallory, { type: 'room-join', roomId: 'room_nope' });
    expect(refusedJoin).toMatchObject({ type: 'error', error: { code: 'ROOM_NOT_FOUND', status: 404 } });
    expect(refusedJoin.type === 'error' && refusedJoin.error).toEqual(
      unknownJoin.type === 'error' && unknownJoin.error,
    );

    // Nor can an outsider read or stop a room's answer by its run id.
    server.upstream.setScenario({ tokenCount: 20, seed: 2, stallAfter: 2 });
    const ana = await connect('ana');
    await join(ana, roomId);
    const runId = await ask(ana, roomId, 'secret plans');
    await ana.waitFor(() => hasAllSent(ana, runId, 2));
    expect(await request(mallory, { type: 'resume', runId })).toMatchObject({
      error: { code: 'RUN_NOT_FOUND' },
    });
    expect(await request(mallory, { type: 'stop', runId })).toMatchObject({
      error: { code: 'RUN_NOT_FOUND' },
    });
    const sse = await call(server, `/api/runs/${runId}/events`, { headers: outsider });
    expectRefusal(sse, 404, 'RUN_NOT_FOUND');
    await stop(ana, runId);
    await ana.waitFor((frame) => isTerminalFrame(frame, runId));
    expect(mallory.frames.some((frame) => frame.type === 'event' || frame.type === 'room-question')).toBe(
      false,
    );
  });

  it('manages members: owner only, the owner stays, members may leave, coded errors for bad ids', async () => {
    const roomId = await createRoom('ana', ['bob']);
    const asBob = await auth('bob');
    expectRefusal(
      await call(server, `/api/rooms/${roomId}/members`, { headers: asBob, json: { memberId: 'user:cy' } }),
      403,
      'ROOM_FORBIDDEN',
    );
    expectRefusal(
      await call(server, `/api/rooms/${roomId}/members/user:ana`, {
        method: 'DELETE',
        headers: await auth('ana'),
      }),
      409,
      'ROOM_OWNER_STAYS',
    );
    expectRefusal(
      await call(server, `/api/rooms/${roomId}/members/user:zed`, {
        method: 'DELETE',
        headers: await auth('ana'),
      }),
      404,
      'ROOM_MEMBER_NOT_FOUND',
    );
    for (const memberId of ['bob', 'anon:x', 'user:', 'user:a b', 42]) {
      expectRefusal(
        await call(server, `/api/rooms/${roomId}/members`, {
          headers: await auth('ana'),
          json: { memberId },
        }),
        400,
        'VALIDATION_FAILED',
      );
    }
    for (const body of [
      {},
      { name: '' },
      { name: 'a\nb' },
      { name: 'x', extra: 1 },
      { name: 'x', chatbotId: 'no/pe' },
    ]) {
      expectRefusal(
        await call(server, '/api/rooms', { headers: asBob, json: body }),
        400,
        'VALIDATION_FAILED',
      );
    }
    expectRefusal(
      await call(server, '/api/rooms', { headers: asBob, json: { name: 'x', chatbotId: 'missing' } }),
      404,
      'CHATBOT_NOT_FOUND',
    );
    // Bob leaves on his own.
    const left = await call(server, `/api/rooms/${roomId}/members/user:bob`, {
      method: 'DELETE',
      headers: asBob,
    });
    expect(left.status).toBe(204);
    expectRefusal(await call(server, `/api/rooms/${roomId}`, { headers: asBob }), 404, 'ROOM_NOT_FOUND');
    expectRefusal(await call(server, '/api/rooms', { headers: {} }), 401, 'UNAUTHORIZED');
  });

  it('answers malformed and out-of-order room messages with coded errors and keeps the socket', async () => {
    const roomId = await createRoom('ana');
    const ana = await connect('ana');
    const cases: [Record<string, unknown>, string][] = [
      [{ type: 'room-join' }, 'VALIDATION_FAILED'],
      [{ type: 'room-join', roomId: '../etc' }, 'VALIDATION_FAILED'],
      [{ type: 'room-join', roomId, lastSeqs: { run_x: 'a' } }, 'VALIDATION_FAILED'],
      [{ type: 'room-ask', roomId, message: '' }, 'VALIDATION_FAILED'],
      [{ type: 'room-ask', roomId, message: 'hi', conversationId: 'conv_x' }, 'VALIDATION_FAILED'],
      [{ type: 'room-ask', roomId, message: 'hi' }, 'ROOM_NOT_JOINED'],
      [{ type: 'room-leave', roomId }, 'ROOM_NOT_JOINED'],
      [{ type: 'room-join', roomId: 'room_unknown' }, 'ROOM_NOT_FOUND'],
    ];
    for (const [message, code] of cases) {
      expect(await request(ana, message)).toMatchObject({ type: 'error', error: { code } });
    }
    await join(ana, roomId);
    expect(await request(ana, { type: 'room-leave', roomId })).toMatchObject({
      type: 'room-left',
      reason: 'left',
    });
    await join(ana, roomId);
    const runId = await ask(ana, roomId, 'after all that');
    await ana.waitFor((frame) => isTerminalFrame(frame, runId));
    expect(runEvents(ana, runId).at(-1)).toMatchObject({ type: 'done' });
  });
});

describe('rooms on an open install', () => {
  it('are refused with a coded error: there is only one user', async () => {
    const open = await startTestServer();
    try {
      expectRefusal(await call(open, '/api/rooms', { json: { name: 'x' } }), 403, 'ROOMS_NEED_SIGN_IN');
      expectRefusal(await call(open, '/api/rooms'), 403, 'ROOMS_NEED_SIGN_IN');
      const client = await connectWs(open.url);
      client.send({ type: 'room-join', roomId: 'room_x', requestId: 'j' });
      expect(await client.waitFor((frame) => frame.type === 'error')).toMatchObject({
        error: { code: 'ROOMS_NEED_SIGN_IN' },
      });
      client.socket.close();
    } finally {
      await open.close();
    }
  });
});
