// GET /api/ws: chat, resume and stop over one WebSocket, with ping/pong heartbeat and backpressure.

import { randomUUID } from 'node:crypto';
import { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { RivuletError, toRivuletError } from '../../../core/errors.ts';
import type { Principal } from '../../../core/principal.ts';
import type { RunSink, RunSubscription } from '../../../core/run-hub.ts';
import { encodeWsControlFrame, encodeWsEventFrame } from '../../encoders/ws-frame.ts';
import { findOwnedRun } from '../../run-access.ts';
import { parseWith, wsClientMessageSchema, type WsClientMessage } from '../../schemas.ts';
import type { AppContext } from '../context.ts';
import { SocketRooms } from '../ws-rooms.ts';

/** Above this many unsent bytes a reader pauses until the socket flushes, and new chats and resumes are refused. */
const WS_HIGH_WATER_BYTES = 256 * 1024;
/**
 * A socket holding this many unsent bytes belongs to a client that does not read: it is closed (1013) instead of
 * holding memory (resume storms once piled 1.9 GB into three sockets). The client resumes from its last event.
 */
const WS_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** Messages one socket may have waiting to be handled. */
const WS_MAX_PENDING_MESSAGES = 32;
/** Runs one socket may follow at once. */
const WS_MAX_SUBSCRIPTIONS = 16;
/** Close code for a peer that does not read what it asked for (RFC 6455 1013: try again later). */
const CLOSE_TRY_AGAIN_LATER = 1013;
/** Close code when the client sends frames that are not protocol messages. */
const CLOSE_UNSUPPORTED_DATA = 1003;
/** Close code for missing or bad credentials (RFC 6455: policy violation). */
const CLOSE_POLICY_VIOLATION = 1008;
/** How long a socket opened without credentials may take to send its `auth` message. */
const WS_AUTH_TIMEOUT_MS = 10_000;

export function registerWsRoutes(server: FastifyInstance, context: AppContext): void {
  const schema = wsClientMessageSchema();

  server.route({
    method: 'GET',
    url: '/api/ws',
    // A plain GET (no Upgrade header) gets a coded answer instead of an empty 404.
    handler: () => {
      throw new RivuletError('UPGRADE_REQUIRED');
    },
    wsHandler: (socket, request) => {
      if (request.authFailure !== undefined) {
        const origin = request.authFailure.code === 'ORIGIN_NOT_ALLOWED';
        socket.close(CLOSE_POLICY_VIOLATION, origin ? 'origin not allowed' : 'unauthorized');
        return;
      }
      // Signed in by the upgrade's headers, or (browsers) by a first `auth` message within AUTH_TIMEOUT_MS.
      let principal: Principal | undefined = request.principal;
      let credentials = request.credentials;
      let signingIn: Promise<Principal | undefined> | undefined;
      const authTimer =
        principal === undefined
          ? setTimeout(() => socket.close(CLOSE_POLICY_VIOLATION, 'sign in first'), WS_AUTH_TIMEOUT_MS)
          : undefined;
      const signedIn = async (): Promise<Principal> => {
        const current = principal ?? (await signingIn);
        if (current === undefined) {
          socket.close(CLOSE_POLICY_VIOLATION, 'sign in first: send {"type":"auth","token":"..."}');
          throw new RivuletError('UNAUTHORIZED');
        }
        return current;
      };
      const subscriptions = new Map<string, RunSubscription>();
      let alive = true;
      /** Messages are handled one after another: the last one's promise, and how many wait. */
      let queue: Promise<void> = Promise.resolve();
      let pending = 0;

      const send = (data: string): void => {
        if (socket.readyState !== socket.OPEN) return;
        if (socket.bufferedAmount > WS_MAX_BUFFERED_BYTES) {
          closeUnread(socket);
          return;
        }
        socket.send(data);
      };
      const sendError = (error: unknown, requestId: string | null, runId: string | null): void => {
        const coded = toRivuletError(error);
        if (coded.code === 'INTERNAL') request.log.error({ err: error }, 'websocket request failed');
        send(
          encodeWsControlFrame({
            type: 'error',
            requestId,
            runId,
            error: {
              code: coded.code,
              message: coded.message,
              status: coded.status,
              retryable: coded.retryable,
            },
          }),
        );
      };

      /** Refuses one more run on a socket that follows as many as it may. */
      const assertRoomFor = (runId?: string): void => {
        if (subscriptions.size < WS_MAX_SUBSCRIPTIONS || (runId !== undefined && subscriptions.has(runId)))
          return;
        throw new RivuletError('TOO_MANY_READERS', {
          message: `This socket follows ${WS_MAX_SUBSCRIPTIONS} answers already: wait for one to end.`,
        });
      };

      const attach = async (runId: string, afterSeq: number): Promise<boolean> => {
        subscriptions.get(runId)?.close();
        let subscription: RunSubscription | undefined;
        let ended = false;
        const sink = wsSink(
          socket,
          runId,
          () => subscription?.resume(),
          () => {
            ended = true;
            if (subscription !== undefined && subscriptions.get(runId) === subscription)
              subscriptions.delete(runId);
          },
        );
        subscription = await context.hub.subscribe(runId, afterSeq, sink);
        if (subscription === undefined) return false;
        if (socket.readyState !== socket.OPEN) subscription.close();
        // A finished run's replay may already have ended before subscribe resolved.
        else if (!ended) subscriptions.set(runId, subscription);
        return true;
      };

      const rooms = new SocketRooms({
        service: context.rooms,
        connectionId: randomUUID(),
        send,
        follow: (runId, afterSeq) => attach(runId, afterSeq),
        unfollow: (runId) => {
          subscriptions.get(runId)?.close();
          subscriptions.delete(runId);
        },
        logger: request.log,
      });

      /** Whether the socket still has to send its `auth` message: it may send nothing else meanwhile. */
      const awaitingSignIn = (): boolean =>
        principal === undefined && signingIn === undefined && context.authenticator.mode === 'required';

      /**
       * One frame, counted like an HTTP request whatever it holds, since a malformed frame costs parsing too: per
       * address before it is parsed, per principal (once signed in) as soon as its requestId is known; then validated
       * and handled, every failure answered with a coded error frame. Before sign-in, anything but a valid `auth`
       * message closes the socket.
       */
      const receive = async (data: Buffer | ArrayBuffer | Buffer[]): Promise<void> => {
        let requestId: string | null = null;
        let runId: string | null = null;
        try {
          await context.requestLimits.countAddress(request.ip);
          let raw: unknown;
          try {
            raw = JSON.parse(rawDataToString(data));
          } catch {
            raw = undefined;
          }
          requestId = requestIdOf(raw);
          if (principal !== undefined) await context.requestLimits.countPrincipal(principal, request.ip);
          if (raw === undefined) throw new RivuletError('INVALID_JSON');
          const message = parseWith(schema, raw);
          runId = 'runId' in message ? message.runId : null;
          await handle(message);
        } catch (error) {
          if (awaitingSignIn()) {
            socket.close(CLOSE_POLICY_VIOLATION, 'sign in first: send {"type":"auth","token":"..."}');
            return;
          }
          sendError(error, requestId, runId);
        }
      };

      const handle = async (message: WsClientMessage): Promise<void> => {
        const requestId = message.requestId ?? null;
        if (message.type === 'auth') {
          if (principal !== undefined || signingIn !== undefined) return;
          clearTimeout(authTimer);
          const origin = request.headers.origin;
          credentials = { token: message.token, sessionId: message.sessionId, origin, ip: request.ip };
          signingIn = context.authenticator.authenticate(credentials).then(
            (signed) => (principal = signed),
            (error: unknown) => {
              const coded = toRivuletError(error);
              request.log.info({ code: coded.code, detail: coded.detail }, 'websocket auth refused');
              socket.close(CLOSE_POLICY_VIOLATION, 'unauthorized');
              return undefined;
            },
          );
          if ((await signingIn) !== undefined)
            send(encodeWsControlFrame({ type: 'authenticated', requestId }));
          return;
        }
        let caller = await signedIn();
        // A socket lives long: every message re-checks its credentials (a signature and expiry check for a JWT, one
        // indexed lookup for an API key), so a revoked key or an expired JWT stops working on open sockets too, for
        // resume and stop as for new answers.
        if (context.authenticator.mode === 'required' && credentials !== undefined) {
          try {
            caller = await context.authenticator.authenticate(credentials);
          } catch (error) {
            socket.close(CLOSE_POLICY_VIOLATION, 'unauthorized');
            throw error;
          }
        }
        // A client that has not read what it already asked for gets nothing more piled on.
        if (message.type !== 'stop' && socket.bufferedAmount > WS_HIGH_WATER_BYTES) {
          throw new RivuletError('RATE_LIMITED', {
            message: 'This socket has unread data: read it before asking for more.',
            retryAfterMs: 1000,
          });
        }
        switch (message.type) {
          case 'chat': {
            const { type: _type, requestId: _requestId, ...body } = message;
            assertRoomFor();
            const run = await context.chat.start(body, caller);
            request.log.info({ runId: run.runId, requestId }, 'run started');
            send(encodeWsControlFrame({ type: 'accepted', requestId, runId: run.runId }));
            try {
              await attach(run.runId, -1);
            } catch (error) {
              // Nobody could read this answer (the process's readers are all taken): stop it before the model
              // writes for no one, and say why.
              await context.hub.stop(run.runId);
              throw error;
            }
            return;
          }
          case 'resume': {
            // A room's answer is any member's to read; the member's removal ends the reading at once.
            const roomRun = await context.rooms.roomRun(caller, message.runId);
            const info =
              roomRun?.info ??
              (await findOwnedRun(context.hub, message.runId, caller.id, context.stores.conversations));
            if (roomRun !== undefined && caller.id !== null)
              rooms.watchRun(roomRun.roomId, info.runId, caller.id);
            const afterSeq = message.lastSeq ?? -1;
            request.log.debug(
              { runId: info.runId, afterSeq, lastSeq: info.lastSeq, state: info.state, requestId },
              'run resumed over WebSocket',
            );
            assertRoomFor(info.runId);
            // Acknowledged before any replayed event, so a client that already has everything still hears back.
            send(
              encodeWsControlFrame({
                type: 'resumed',
                requestId,
                runId: info.runId,
                state: info.state,
                afterSeq,
                lastSeq: info.lastSeq,
              }),
            );
            if (!(await attach(info.runId, afterSeq))) throw new RivuletError('RUN_NOT_FOUND');
            return;
          }
          case 'stop': {
            const info =
              (await context.rooms.roomRun(caller, message.runId))?.info ??
              (await findOwnedRun(context.hub, message.runId, caller.id));
            const stopped = await context.hub.stop(info.runId);
            send(encodeWsControlFrame({ type: 'stopped', runId: info.runId, stopped }));
            return;
          }
          case 'room-join':
            await rooms.join(caller, message.roomId, message.lastSeqs ?? {}, requestId);
            return;
          case 'room-leave':
            rooms.leave(message.roomId, requestId);
            return;
          case 'room-ask': {
            const { type: _type, requestId: _requestId, roomId, ...input } = message;
            const runId = await rooms.ask(caller, roomId, input);
            request.log.info({ runId, roomId, requestId }, 'room run started');
            send(encodeWsControlFrame({ type: 'accepted', requestId, runId }));
            return;
          }
          default: {
            const unreachable: never = message;
            throw new Error(`unknown message ${JSON.stringify(unreachable)}`);
          }
        }
      };

      socket.on('message', (data, isBinary) => {
        if (isBinary) {
          socket.close(CLOSE_UNSUPPORTED_DATA, 'text frames only');
          return;
        }
        // One message at a time, in order: a burst read in one go must meet the limits, the subscription cap and the
        // unread-data check one by one, not all pass them before any took effect. A client may not queue without end.
        if (pending >= WS_MAX_PENDING_MESSAGES) {
          sendError(
            new RivuletError('RATE_LIMITED', {
              message: 'Too many messages waiting on this socket: wait for answers before sending more.',
              retryAfterMs: 1000,
            }),
            null,
            null,
          );
          return;
        }
        pending += 1;
        queue = queue
          .then(() => receive(data))
          .finally(() => {
            pending -= 1;
          });
      });

      // Browsers answer protocol pings by themselves; a peer that misses one interval is dead and dropped.
      socket.on('pong', () => {
        alive = true;
      });
      const heartbeat = setInterval(() => {
        if (!alive) {
          socket.terminate();
          return;
        }
        alive = false;
        socket.ping();
      }, context.config.ws.pingMs);
      heartbeat.unref();

      socket.on('close', () => {
        clearInterval(heartbeat);
        clearTimeout(authTimer);
        rooms.close();
        for (const subscription of subscriptions.values()) subscription.close();
        subscriptions.clear();
      });
    },
  });
}

/** Closes a socket whose peer leaves too much unread. */
function closeUnread(socket: WebSocket): void {
  if (socket.readyState === socket.OPEN) socket.close(CLOSE_TRY_AGAIN_LATER, 'too much unread data');
}

/**
 * The TCP socket under a `ws` WebSocket, to cork a batch's messages into one write. `ws` keeps it as `_socket`, outside
 * its typed API; undefined should that ever change (each message is then its own write, as `ws` sends it).
 */
function tcpSocketOf(socket: WebSocket): Duplex | undefined {
  const tcp = (socket as unknown as { _socket?: unknown })._socket;
  return tcp instanceof Duplex ? tcp : undefined;
}

/**
 * A reader that sends one WebSocket message per event and pauses when the socket's buffer is full. A batch's messages
 * leave in one socket write (corked around the sends), as an SSE batch does: a write costs about as much as the rest of
 * a token's path.
 */
function wsSink(socket: WebSocket, runId: string, resume: () => void, end: () => void): RunSink {
  // The connection's TCP socket, found once: the sink lives on that connection.
  const tcpSocket = tcpSocketOf(socket);
  return {
    write(entries) {
      if (socket.readyState !== socket.OPEN) return false;
      if (socket.bufferedAmount > WS_MAX_BUFFERED_BYTES) {
        closeUnread(socket);
        return false;
      }
      const last = entries.length - 1;
      const tcp = last > 0 ? tcpSocket : undefined;
      tcp?.cork();
      try {
        for (let index = 0; index < last; index += 1) socket.send(encodeWsEventFrame(runId, entries[index]!));
        const full = socket.bufferedAmount > WS_HIGH_WATER_BYTES;
        const frame = encodeWsEventFrame(runId, entries[last]!);
        // The send callback runs once this frame (and everything queued before it) reached the kernel.
        if (full) socket.send(frame, resume);
        else socket.send(frame);
        return !full;
      } finally {
        tcp?.uncork();
      }
    },
    end,
  };
}

function rawDataToString(data: Buffer | ArrayBuffer | Buffer[]): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function requestIdOf(raw: unknown): string | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const value = (raw as { requestId?: unknown }).requestId;
  return typeof value === 'string' && value.length <= 200 ? value : null;
}
