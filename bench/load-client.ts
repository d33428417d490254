// The load client: opens streams over node:http, counts token frames per chunk without parsing SSE, times them.

import { Agent, request, type ClientRequest, type IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { constants, createBrotliDecompress, createGunzip } from 'node:zlib';

/** 'openai': Chat Completions chunks (direct and raw-pipe). 'rivulet': Rivulet's own SSE events. */
export type WireFormat = 'openai' | 'rivulet';

export interface Target {
  name: string;
  port: number;
  path: string;
  /** The same body for every stream (with followUps: for each conversation's first question). */
  body: string;
  format: WireFormat;
  /** Sent as Accept-Encoding; a compressed response is decompressed as it arrives, and frames counted after. */
  acceptEncoding?: string;
  /**
   * Rivulet only: each slot's answers form conversations of this many questions. The first starts one (`body`); the
   * next name it (`body` with its conversationId, read from the start event), so they are follow-ups.
   */
  followUps?: number;
}

/** A slot's conversation (Target.followUps): its id once the first answer's start event named it. */
interface SlotConversation {
  id: string | undefined;
  asked: number;
}

const CONVERSATION_ID_FIELD = '"conversationId":"';

/** `body` (a JSON object) with a conversationId added: the request of a follow-up. */
function followUpBody(body: string, conversationId: string): string {
  return `${body.slice(0, body.lastIndexOf('}'))},"conversationId":${JSON.stringify(conversationId)}}`;
}

export interface LoadPlan {
  concurrency: number;
  /** Streams each concurrent slot opens one after another. */
  rounds: number;
  /** Slot starts are spread evenly over this long, so the accept queue is not what gets measured. */
  rampMs: number;
  /** Content tokens the fake upstream sends per stream. */
  tokensPerStream: number;
  /** How long one stream is expected to take (first token wait plus all gaps). */
  streamDurationMs: number;
  /** Hard limit for the whole run; streams still open then are destroyed and counted as failed. */
  timeoutMs: number;
  /**
   * Called once in the first round: half a stream's duration after the last of its streams was sent, and not
   * before every one of them has received its first token (or ended). Gets the streams then receiving tokens.
   */
  onMidpoint?: (streamingNow: number) => void;
}

export interface LoadResult {
  started: number;
  completed: number;
  /** Failure reason -> streams. */
  failures: Map<string, number>;
  /** Token frames counted at the client (a relay that merges tokens sends fewer frames than tokens). */
  framesReceived: number;
  /** Content tokens carried to the client: a completed stream carried them all, a failed one its frames. */
  tokensDelivered: number;
  /** Completed streams whose frame count differed from tokensPerStream (merged or lost frames). */
  streamsWithOtherFrameCount: number;
  ttftMs: number[];
  gapMs: number[];
  timedOut: boolean;
  elapsedMs: number;
  /** Response body bytes as they came off the wire (compressed, when the response was). */
  wireBytes: number;
}

const TOKEN_EVENT_LINE = 'event: token';
const DONE_EVENT_LINE = 'event: done';
const ERROR_EVENT_LINE = 'event: error';
const OPENAI_DONE_LINE = 'data: [DONE]';
const OPENAI_DATA_PREFIX = 'data: {';
const CONTENT_FIELD = '"content":"';
const QUOTE = 34;

interface StreamState {
  startedAt: number;
  lastArrival: number;
  frames: number;
  /** A line cut by a chunk boundary, kept until the rest arrives. */
  carry: string;
  sawTerminal: boolean;
  sawError: boolean;
}

/**
 * Counts the token frames whose line ends in `text` and returns how many; stores the unfinished tail in
 * state.carry. Chunks are decoded as latin1: every pattern is ASCII, so multi-byte text cannot confuse it.
 */
function countFrames(state: StreamState, text: string, format: WireFormat): number {
  let frames = 0;
  let lineStart = 0;
  let lineEnd = text.indexOf('\n');
  while (lineEnd !== -1) {
    const length = lineEnd - lineStart;
    if (format === 'rivulet') {
      if (length === TOKEN_EVENT_LINE.length && text.startsWith(TOKEN_EVENT_LINE, lineStart)) frames += 1;
      else if (length === DONE_EVENT_LINE.length && text.startsWith(DONE_EVENT_LINE, lineStart))
        state.sawTerminal = true;
      else if (length === ERROR_EVENT_LINE.length && text.startsWith(ERROR_EVENT_LINE, lineStart))
        state.sawError = true;
    } else if (text.startsWith(OPENAI_DATA_PREFIX, lineStart)) {
      // JSON strings escape every quote, so `"content":"` only matches the field itself; `""` is the empty
      // first delta, which carries no token.
      const field = text.indexOf(CONTENT_FIELD, lineStart);
      if (field !== -1 && field < lineEnd && text.charCodeAt(field + CONTENT_FIELD.length) !== QUOTE) {
        frames += 1;
      }
    } else if (length === OPENAI_DONE_LINE.length && text.startsWith(OPENAI_DONE_LINE, lineStart)) {
      state.sawTerminal = true;
    }
    lineStart = lineEnd + 1;
    lineEnd = text.indexOf('\n', lineStart);
  }
  state.carry = lineStart < text.length ? text.slice(lineStart) : '';
  return frames;
}

/** The body as text arrives: decompressed per chunk (a sync flush each), so frames count when they are sent. */
function decoded(response: IncomingMessage): Readable {
  const encoding = response.headers['content-encoding'];
  if (encoding !== 'gzip' && encoding !== 'br') return response;
  const decompressor =
    encoding === 'gzip'
      ? createGunzip({ flush: constants.Z_SYNC_FLUSH })
      : createBrotliDecompress({ flush: constants.BROTLI_OPERATION_FLUSH });
  response.pipe(decompressor);
  decompressor.on('error', (error) => response.destroy(error));
  return decompressor;
}

/** Runs the plan against one target and resolves when every stream has ended (or the timeout cut them). */
export function runLoad(target: Target, plan: LoadPlan): Promise<LoadResult> {
  const agent = new Agent({
    keepAlive: true,
    maxSockets: plan.concurrency + 16,
    maxFreeSockets: plan.concurrency + 16,
  });
  const result: LoadResult = {
    started: 0,
    completed: 0,
    failures: new Map(),
    framesReceived: 0,
    tokensDelivered: 0,
    streamsWithOtherFrameCount: 0,
    ttftMs: [],
    gapMs: [],
    timedOut: false,
    elapsedMs: 0,
    wireBytes: 0,
  };
  const open = new Set<ClientRequest>();
  const loadStartedAt = performance.now();
  let stopping = false;
  let firstRoundStarted = 0;
  /** First-round streams that have received a token or ended. */
  let firstRoundReady = 0;
  /** Streams that have received a token and not ended: the ones the relay is carrying. */
  let streamingNow = 0;
  let midpointDue = false;
  let midpointDone = false;
  let midpointTimer: NodeJS.Timeout | undefined;

  const fail = (reason: string): void => {
    result.failures.set(reason, (result.failures.get(reason) ?? 0) + 1);
  };

  const maybeRunMidpoint = (): void => {
    if (midpointDone || !midpointDue || firstRoundReady < plan.concurrency) return;
    midpointDone = true;
    plan.onMidpoint?.(streamingNow);
  };

  const maybeScheduleMidpoint = (): void => {
    if (plan.onMidpoint === undefined || firstRoundStarted !== plan.concurrency) return;
    // Every first-round stream has been sent; halfway through the last one's life all of them are open,
    // unless a slow relay has not even answered some of them yet (then it waits for those).
    midpointTimer = setTimeout(() => {
      midpointDue = true;
      maybeRunMidpoint();
    }, plan.streamDurationMs / 2);
  };

  const runStream = (firstRound: boolean, conversation: SlotConversation): Promise<void> =>
    new Promise<void>((resolve) => {
      const followUps = target.followUps;
      if (followUps !== undefined && conversation.asked >= followUps) {
        conversation.id = undefined;
        conversation.asked = 0;
      }
      const asksNew = conversation.id === undefined;
      /** The response so far, until it names the conversation (followUps). */
      let head = '';
      const body = asksNew ? target.body : followUpBody(target.body, conversation.id as string);
      conversation.asked += 1;
      result.started += 1;
      const state: StreamState = {
        startedAt: performance.now(),
        lastArrival: 0,
        frames: 0,
        carry: '',
        sawTerminal: false,
        sawError: false,
      };
      let settled = false;
      const finish = (reason: string | undefined): void => {
        if (settled) return;
        settled = true;
        open.delete(outgoing);
        if (state.frames > 0) streamingNow -= 1;
        else if (firstRound) {
          firstRoundReady += 1;
          maybeRunMidpoint();
        }
        result.framesReceived += state.frames;
        if (reason === undefined) {
          result.completed += 1;
          result.tokensDelivered += plan.tokensPerStream;
          if (state.frames !== plan.tokensPerStream) result.streamsWithOtherFrameCount += 1;
        } else {
          result.tokensDelivered += state.frames;
          fail(reason);
        }
        resolve();
      };

      const onResponse = (response: IncomingMessage): void => {
        if (response.statusCode !== 200) {
          response.resume();
          finish(`HTTP ${String(response.statusCode)}`);
          return;
        }
        response.on('data', (chunk: Buffer) => {
          result.wireBytes += chunk.length;
        });
        const received = decoded(response);
        received.setEncoding('latin1');
        received.on('data', (chunk: string) => {
          const now = performance.now();
          if (followUps !== undefined && asksNew && conversation.id === undefined && head.length < 65_536) {
            // The start event comes first and names the conversation; its frame may span chunks.
            head += chunk;
            const at = head.indexOf(CONVERSATION_ID_FIELD);
            const from = at + CONVERSATION_ID_FIELD.length;
            const to = at === -1 ? -1 : head.indexOf('"', from);
            if (to !== -1) conversation.id = head.slice(from, to);
          }
          const frames = countFrames(state, state.carry === '' ? chunk : state.carry + chunk, target.format);
          if (frames === 0) return;
          // Several frames in one chunk arrived together: the gaps between them are zero.
          if (state.frames === 0) result.ttftMs.push(now - state.startedAt);
          else result.gapMs.push(now - state.lastArrival);
          for (let extra = 1; extra < frames; extra += 1) result.gapMs.push(0);
          const first = state.frames === 0;
          state.frames += frames;
          state.lastArrival = now;
          if (first) {
            streamingNow += 1;
            if (firstRound) {
              firstRoundReady += 1;
              maybeRunMidpoint();
            }
          }
        });
        received.on('end', () => {
          if (state.sawError) finish('error event');
          else if (!state.sawTerminal) finish('ended without a terminal event');
          else finish(undefined);
        });
        response.on('error', (error: Error) =>
          finish(stopping ? 'timed out' : `response error: ${error.message}`),
        );
        response.on('close', () => {
          // A whole compressed body still has its last frames in the decompressor: its 'end' settles the stream.
          if (received !== response && response.complete) return;
          finish(stopping ? 'timed out' : 'connection closed mid-stream');
        });
      };

      const outgoing = request(
        {
          host: '127.0.0.1',
          port: target.port,
          path: target.path,
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            accept: 'text/event-stream',
            ...(target.acceptEncoding === undefined ? {} : { 'accept-encoding': target.acceptEncoding }),
          },
        },
        onResponse,
      );
      open.add(outgoing);
      outgoing.on('error', (error: NodeJS.ErrnoException) =>
        finish(stopping ? 'timed out' : `request error: ${error.code ?? error.message}`),
      );
      outgoing.end(body);
    });

  const runSlot = async (slot: number): Promise<void> => {
    const delayMs = plan.concurrency > 1 ? (slot * plan.rampMs) / plan.concurrency : 0;
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    const conversation: SlotConversation = { id: undefined, asked: 0 };
    for (let round = 0; round < plan.rounds && !stopping; round += 1) {
      const stream = runStream(round === 0, conversation);
      if (round === 0) {
        firstRoundStarted += 1;
        maybeScheduleMidpoint();
      }
      await stream;
    }
  };

  const timeout = setTimeout(() => {
    stopping = true;
    result.timedOut = true;
    for (const outgoing of open) outgoing.destroy();
  }, plan.timeoutMs);

  const slots: Promise<void>[] = [];
  for (let slot = 0; slot < plan.concurrency; slot += 1) slots.push(runSlot(slot));
  return Promise.all(slots).then(() => {
    clearTimeout(timeout);
    clearTimeout(midpointTimer);
    agent.destroy();
    result.elapsedMs = performance.now() - loadStartedAt;
    return result;
  });
}
