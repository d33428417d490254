// The client SDK (web/client) against a real server: typed events in order, transparent resume through a proxy
// that cuts connections, bounded retries, stop, WebSocket, replay from another tab, refusals, and ChatSession.

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DoneEvent, RunEvent, StartEvent } from '../../src/core/events.ts';
import { RivuletClient, RivuletClientError, type ChatStream } from '../../web/client/client.ts';
import { ChatSession, type SessionSnapshot, type SessionStorageLike } from '../../web/client/session.ts';
import type { FakeScenario } from '../fakes/openai-upstream.ts';
import { startCuttingProxy, type CuttingProxy } from '../helpers/cutting-proxy.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

/** Short answers for the plain paths. */
const QUICK: FakeScenario = { tokenCount: 30, seed: 21 };
/** About a second of tokens: long enough to cut, stop or reload in the middle. */
const SLOW: FakeScenario = { tokenCount: 60, interTokenMs: 15, seed: 22 };
/** Small retry budget so failures show up in milliseconds. */
const FAST_RETRY = { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 };

let server: TestServer;
let proxy: CuttingProxy | undefined;

beforeAll(async () => {
  server = await startTestServer({ RUN_GRACE_MS: '5000' }, QUICK);
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.upstream.reset();
});
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  // Nothing a test started may still be talking to the upstream when the next one resets its log.
  await server.app.chat.settled();
});

interface RequestLog {
  method: string;
  path: string;
  headers: Record<string, string>;
}

/** A client whose requests are logged (and optionally refused) on their way to fetch. */
function loggingClient(
  baseUrl: string,
  options: { refuse?: (path: string) => boolean; retry?: typeof FAST_RETRY } = {},
): { client: RivuletClient; requests: RequestLog[] } {
  const requests: RequestLog[] = [];
  const client = new RivuletClient({
    baseUrl,
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    fetch: (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const headers = Object.fromEntries(new Headers(init?.headers).entries());
      requests.push({ method: init?.method ?? 'GET', path: url.pathname, headers });
      if (options.refuse?.(url.pathname) === true) return Promise.reject(new TypeError('fetch failed'));
      return fetch(input, init);
    },
  });
  return { client, requests };
}

async function collect(stream: ChatStream, onEvent?: (event: RunEvent) => void | Promise<void>) {
  const events: RunEvent[] = [];
  for await (const event of stream) {
    events.push(event);
    await onEvent?.(event);
  }
  return events;
}

/** Reads to the end or to the failure; `onEvent` may act on the stream (cut the network) as events arrive. */
async function collectFailure(
  stream: ChatStream,
  onEvent?: (event: RunEvent) => void,
): Promise<{ events: RunEvent[]; error: unknown }> {
  const events: RunEvent[] = [];
  try {
    for await (const event of stream) {
      events.push(event);
      onEvent?.(event);
    }
  } catch (error) {
    return { events, error };
  }
  return { events, error: undefined };
}

function tokenText(events: readonly RunEvent[]): string {
  return events.map((event) => (event.type === 'token' ? event.text : '')).join('');
}

function expectStrictlyIncreasingSeqs(events: readonly RunEvent[]): void {
  const seqs = events.map((event) => event.seq);
  seqs.slice(1).forEach((seq, index) => expect(seq).toBeGreaterThan(seqs[index]!));
}

/** The whole answer arrived once: one start, one done, every token once, text equal to the upstream's. */
function expectCompleteAnswer(stream: ChatStream, events: readonly RunEvent[], fullText: string): void {
  expectStrictlyIncreasingSeqs(events);
  expect(events[0]).toMatchObject({ type: 'start', seq: 0 });
  expect(events.filter((event) => event.type === 'start')).toHaveLength(1);
  expect(events.filter((event) => event.type === 'done' || event.type === 'error')).toHaveLength(1);
  expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop', text: fullText });
  expect(tokenText(events)).toBe(fullText);
  expect(stream.text).toBe(fullText);
  expect(stream.terminal).toBe(events.at(-1));
  expect(stream.lastSeq).toBe(events.at(-1)!.seq);
  expect(stream.runId).toBe((events[0] as StartEvent).runId);
}

describe('RivuletClient over SSE', () => {
  it('yields start, phases, sources, tokens and done in order, once each, with the whole answer', async () => {
    server.upstream.setScenario(QUICK);
    const client = new RivuletClient({ baseUrl: server.url });
    const stream = client.chat({ message: 'what does the guide say?' });
    const events = await collect(stream);

    expectCompleteAnswer(stream, events, server.upstream.fullText());
    expect(stream.reconnects).toBe(0);
    const types = events.map((event) => event.type);
    const firstToken = types.indexOf('token');
    expect(types.filter((type) => type === 'sources')).toHaveLength(1);
    expect(firstToken).toBeGreaterThan(types.indexOf('sources'));
    expect(types.indexOf('phase')).toBeGreaterThan(0);
    expect(types.indexOf('phase')).toBeLessThan(types.indexOf('sources'));
    // Tokens come inside the generate phase.
    const generateStart = events.findIndex(
      (event) => event.type === 'phase' && event.name === 'generate' && event.state === 'start',
    );
    const generateEnd = events.findIndex(
      (event) => event.type === 'phase' && event.name === 'generate' && event.state === 'end',
    );
    expect(generateStart).toBeGreaterThan(-1);
    expect(generateStart).toBeLessThan(firstToken);
    expect(generateEnd).toBeGreaterThan(types.lastIndexOf('token'));
    const phaseStarts = events.flatMap((event) =>
      event.type === 'phase' && event.state === 'start' ? [event.name] : [],
    );
    expect(phaseStarts[0]).toBe('history');
    expect(phaseStarts.at(-1)).toBe('generate');
    expect((await stream.waitForRunId()) ?? '').toMatch(/^run_/);
  });

  it('resumes transparently after the connection is cut twice mid-answer: every event once, nothing repeated', async () => {
    server.upstream.setScenario(SLOW);
    // Cut the POST (past the events before the first token), then the first resume, each in the middle of the
    // answer (and likely of a frame).
    proxy = await startCuttingProxy(server.url, { cutAfterBytes: [2700, 2000] });
    const { client, requests } = loggingClient(proxy.url);
    const stream = client.chat({ message: 'a long answer please' });
    const events = await collect(stream);

    expect(proxy.cuts).toBe(2);
    expect(stream.reconnects).toBeGreaterThanOrEqual(2);
    expectCompleteAnswer(stream, events, server.upstream.fullText());
    // One question, one model call: the reconnections resumed the run instead of asking again.
    expect(server.upstream.requests).toHaveLength(1);
    const runId = stream.runId!;
    expect(requests[0]).toMatchObject({ method: 'POST', path: '/api/chat/stream' });
    const resumes = requests.slice(1);
    expect(resumes.length).toBeGreaterThanOrEqual(2);
    for (const resume of resumes) {
      expect(resume).toMatchObject({ method: 'GET', path: `/api/runs/${runId}/events` });
      expect(resume.headers['last-event-id']).toMatch(new RegExp(`^${runId}:\\d+$`));
    }
    // Each resume asks for what follows the last event it had: the Last-Event-ID seqs move forward.
    const resumedAfter = resumes.map((resume) => Number(resume.headers['last-event-id']!.split(':')[1]));
    resumedAfter.slice(1).forEach((seq, index) => expect(seq).toBeGreaterThan(resumedAfter[index]!));
    // The cut came mid-answer: some tokens had arrived before it, most after.
    const seqOfToken = events.filter((event) => event.type === 'token').map((event) => event.seq);
    expect(resumedAfter[0]).toBeGreaterThanOrEqual(seqOfToken[0]!);
    expect(resumedAfter[0]).toBeLessThan(seqOfToken.at(-1)!);
  });

  it('gives up with STREAM_INTERRUPTED after the configured attempts when the server stays unreachable', async () => {
    server.upstream.setScenario(SLOW);
    proxy = await startCuttingProxy(server.url);
    const cutter = proxy;
    const client = new RivuletClient({ baseUrl: proxy.url, retry: { attempts: 5, baseDelayMs: 10 } });
    // Per-stream options override the client's.
    const stream = client.chat({ message: 'and then the network went away' }, { retry: FAST_RETRY });
    const { events, error: failure } = await collectFailure(stream, (event) => {
      if (event.type === 'token' && event.seq >= 8 && cutter.cuts === 0) cutter.refuse();
    });

    expect(failure).toBeInstanceOf(RivuletClientError);
    expect(failure).toMatchObject({ code: 'STREAM_INTERRUPTED', retryable: true });
    expect(proxy.cuts).toBe(1);
    // Exactly the configured attempts reached the network, then the stream gave up.
    expect(proxy.refused).toBe(FAST_RETRY.attempts);
    expect(stream.reconnects).toBe(FAST_RETRY.attempts);
    expect(stream.terminal).toBeUndefined();
    const text = tokenText(events);
    expect(text.length).toBeGreaterThan(0);
    expect(stream.text).toBe(text);
    expect(server.upstream.fullText().startsWith(text)).toBe(true);
    expect(text.length).toBeLessThan(server.upstream.fullText().length);
    expectStrictlyIncreasingSeqs(events);
  });

  it('stop() mid-answer ends the stream with done(aborted), a prefix of the answer, and closes the model call', async () => {
    server.upstream.setScenario(SLOW);
    const client = new RivuletClient({ baseUrl: server.url });
    const stream = client.chat({ message: 'stop me halfway' });
    const stopped: boolean[] = [];
    const events = await collect(stream, async (event) => {
      if (event.type === 'token' && event.seq >= 10 && stopped.length === 0)
        stopped.push(await stream.stop());
    });

    expect(stopped).toEqual([true]);
    const done = events.at(-1) as DoneEvent;
    expect(done).toMatchObject({ type: 'done', finishReason: 'aborted' });
    expect(stream.terminal).toBe(done);
    const text = tokenText(events);
    expect(done.text).toBe(text);
    expect(stream.text).toBe(text);
    const full = server.upstream.fullText();
    expect(full.startsWith(text)).toBe(true);
    expect(text.length).toBeLessThan(full.length);
    const upstream = await server.upstream.waitForClose(1);
    expect(upstream).toMatchObject({ closedBy: 'client', completed: false });
    expectStrictlyIncreasingSeqs(events);
    // Stopping a finished answer stops nothing.
    expect(await stream.stop()).toBe(false);
  });

  it('stop() called before the server named the run still stops it, and says so', async () => {
    server.upstream.setScenario({ ...SLOW, ttftMs: 200 });
    const client = new RivuletClient({ baseUrl: server.url });
    const stream = client.chat({ message: 'never mind' });
    const stopping = stream.stop();
    const events = await collect(stream);

    expect(await stopping).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'aborted' });
    const text = tokenText(events);
    expect(server.upstream.fullText().startsWith(text)).toBe(true);
    expect(text.length).toBeLessThan(server.upstream.fullText().length);
    expect(await server.upstream.waitForClose(1)).toMatchObject({ completed: false });
  });
});

describe('RivuletClient over WebSocket', () => {
  it('streams the same complete answer', async () => {
    server.upstream.setScenario(QUICK);
    const client = new RivuletClient({ baseUrl: server.url });
    const stream = client.chat({ message: 'over a socket' }, { transport: 'websocket' });
    const events = await collect(stream);

    expectCompleteAnswer(stream, events, server.upstream.fullText());
    expect(stream.reconnects).toBe(0);
    expect(events.map((event) => event.type)).toContain('sources');
  });

  it('resumes on a new socket after the socket is cut twice, without duplicates', async () => {
    server.upstream.setScenario(SLOW);
    proxy = await startCuttingProxy(server.url, { cutAfterBytes: [2500, 1500] });
    const client = new RivuletClient({ baseUrl: proxy.url });
    const stream = client.chat({ message: 'a long answer over a socket' }, { transport: 'websocket' });
    const events = await collect(stream);

    expect(proxy.cuts).toBe(2);
    expect(proxy.accepted).toBeGreaterThanOrEqual(3);
    expect(stream.reconnects).toBeGreaterThanOrEqual(2);
    expectCompleteAnswer(stream, events, server.upstream.fullText());
    expect(server.upstream.requests).toHaveLength(1);
  });

  it('gives up with STREAM_INTERRUPTED when the server stays unreachable', async () => {
    server.upstream.setScenario(SLOW);
    proxy = await startCuttingProxy(server.url);
    const cutter = proxy;
    const client = new RivuletClient({ baseUrl: proxy.url, retry: FAST_RETRY });
    const stream = client.chat({ message: 'socket, then nothing' }, { transport: 'websocket' });
    const { events, error: failure } = await collectFailure(stream, (event) => {
      if (event.type === 'token' && event.seq >= 8 && cutter.cuts === 0) cutter.refuse();
    });
    expect(failure).toMatchObject({ name: 'RivuletClientError', code: 'STREAM_INTERRUPTED' });
    expect(proxy.refused).toBe(FAST_RETRY.attempts);
    expect(stream.terminal).toBeUndefined();
    expect(server.upstream.fullText().startsWith(tokenText(events))).toBe(true);
  });
});

describe('client.resume', () => {
  for (const transport of ['sse', 'websocket'] as const) {
    it(`${transport}: another tab replays a finished answer from seq 0, and ends at once when it has everything`, async () => {
      server.upstream.setScenario(QUICK);
      const first = new RivuletClient({ baseUrl: server.url });
      const original = first.chat({ message: 'answer once, read twice' }, { transport });
      const originalEvents = await collect(original);
      const runId = original.runId!;
      const terminalSeq = original.lastSeq;

      const otherTab = new RivuletClient({ baseUrl: server.url });
      const replay = otherTab.resume(runId, { transport });
      expect(replay.runId).toBe(runId);
      const replayed = await collect(replay);
      // A replayed backlog may merge tokens (a merged token carries the last seq it covers), never repeat them.
      expect(replayed[0]).toMatchObject({ type: 'start', seq: 0, runId });
      expectCompleteAnswer(replay, replayed, server.upstream.fullText());
      expect(replay.lastSeq).toBe(terminalSeq);
      expect(replayed.at(-1)).toEqual(originalEvents.at(-1));

      // From the middle: only what follows.
      const middle = originalEvents[Math.floor(originalEvents.length / 2)]!.seq;
      const tail = await collect(otherTab.resume(runId, { transport, lastSeq: middle }));
      expect(tail[0]!.seq).toBeGreaterThan(middle);
      expectStrictlyIncreasingSeqs(tail);
      expect(tail.at(-1)).toEqual(originalEvents.at(-1));
      const before = tokenText(originalEvents.filter((event) => event.seq <= middle));
      expect(before + tokenText(tail)).toBe(server.upstream.fullText());

      // Nothing after the terminal event: the stream ends without events and without an error.
      const caughtUp = otherTab.resume(runId, { transport, lastSeq: terminalSeq });
      expect(await collect(caughtUp)).toEqual([]);
      expect(caughtUp.terminal).toBeUndefined();
      expect(caughtUp.reconnects).toBe(0);
      // Still one model call for all of it.
      expect(server.upstream.requests).toHaveLength(1);
    });
  }
});

describe('disconnecting with a signal', () => {
  for (const transport of ['sse', 'websocket'] as const) {
    it(`${transport}: abort ends the stream without an error, the run goes on, and resume continues after it`, async () => {
      server.upstream.setScenario(SLOW);
      const client = new RivuletClient({ baseUrl: server.url });
      const controller = new AbortController();
      const stream = client.chat(
        { message: 'leave and come back' },
        { transport, signal: controller.signal },
      );
      const before = await collect(stream, (event) => {
        if (event.type === 'token' && event.seq >= 8) controller.abort();
      });

      expect(stream.terminal).toBeUndefined();
      expect(stream.reconnects).toBe(0);
      expect(before.some((event) => event.type === 'token')).toBe(true);
      const rest = client.resume(stream.runId!, { transport, lastSeq: stream.lastSeq });
      const after = await collect(rest);
      expect(after[0]!.seq).toBeGreaterThan(stream.lastSeq);
      expectStrictlyIncreasingSeqs([...before, ...after]);
      expect(tokenText(before) + tokenText(after)).toBe(server.upstream.fullText());
      expect(after.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
      // Disconnecting is not stopping: the model call ran to its end.
      expect(server.upstream.requests).toHaveLength(1);
      expect(await server.upstream.waitForClose(1)).toMatchObject({ completed: true });
    });
  }
});

describe('leaving the loop early', () => {
  for (const transport of ['sse', 'websocket'] as const) {
    it(`${transport}: break disconnects (the server loses its reader) but does not stop the run`, async () => {
      server.upstream.setScenario(SLOW);
      const client = new RivuletClient({ baseUrl: server.url });
      const stream = client.chat({ message: 'read a little' }, { transport });
      for await (const event of stream) {
        if (event.type === 'token' && event.seq >= 6) break;
      }
      const runId = stream.runId!;
      await expect.poll(async () => (await server.app.hub.info(runId))?.readers).toBe(0);
      expect((await server.app.hub.info(runId))?.state).toBe('running');
      expect(stream.reconnects).toBe(0);
      // Nothing was stopped: the rest of the answer is still there for whoever resumes it.
      const rest = await collect(client.resume(runId, { transport, lastSeq: stream.lastSeq }));
      expect(rest.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
    });
  }
});

describe('refusals', () => {
  it('SSE: an empty message fails with VALIDATION_FAILED (400) and is not retried', async () => {
    const { client, requests } = loggingClient(server.url, { retry: FAST_RETRY });
    const stream = client.chat({ message: '' });
    const { events, error } = await collectFailure(stream);
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(RivuletClientError);
    expect(error).toMatchObject({ code: 'VALIDATION_FAILED', status: 400, retryable: false });
    expect(requests).toHaveLength(1);
    expect(stream.reconnects).toBe(0);
    expect(await stream.waitForRunId()).toBeUndefined();
    expect(server.upstream.requests).toHaveLength(0);
  });

  it('SSE: resuming an unknown run fails with RUN_NOT_FOUND (404) and is not retried', async () => {
    const { client, requests } = loggingClient(server.url, { retry: FAST_RETRY });
    const stream = client.resume('run_doesnotexist');
    const { events, error } = await collectFailure(stream);
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(RivuletClientError);
    expect(error).toMatchObject({ code: 'RUN_NOT_FOUND', status: 404, retryable: false });
    expect(requests).toHaveLength(1);
    expect(stream.reconnects).toBe(0);
  });

  it('WebSocket: the same refusals arrive as the same codes', async () => {
    const client = new RivuletClient({ baseUrl: server.url, retry: FAST_RETRY });
    const empty = client.chat({ message: '' }, { transport: 'websocket' });
    const emptyResult = await collectFailure(empty);
    expect(emptyResult.error).toBeInstanceOf(RivuletClientError);
    expect(emptyResult.error).toMatchObject({ code: 'VALIDATION_FAILED', status: 400, retryable: false });
    expect(empty.reconnects).toBe(0);

    const unknown = client.resume('run_doesnotexist', { transport: 'websocket' });
    const unknownResult = await collectFailure(unknown);
    expect(unknownResult.error).toMatchObject({ code: 'RUN_NOT_FOUND', status: 404, retryable: false });
    expect(unknown.reconnects).toBe(0);
    expect(server.upstream.requests).toHaveLength(0);
  });

  it('complete(): an empty message is refused with VALIDATION_FAILED', async () => {
    const client = new RivuletClient({ baseUrl: server.url });
    await expect(client.complete({ message: '' })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      status: 400,
    });
  });
});

describe('client.complete', () => {
  it('returns the whole answer in one document', async () => {
    server.upstream.setScenario(QUICK);
    const client = new RivuletClient({ baseUrl: server.url });
    const answer = await client.complete({ message: 'all at once' });
    expect(answer.text).toBe(server.upstream.fullText());
    expect(answer.finishReason).toBe('stop');
    expect(answer.runId).toMatch(/^run_/);
    expect(Array.isArray(answer.sources)).toBe(true);
    expect(server.upstream.requests).toHaveLength(1);
  });
});

/** Web Storage over a Map, like sessionStorage in one tab. */
function memoryStorage(): SessionStorageLike & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (key) => map.get(key) ?? null,
    setItem: (key, value) => {
      map.set(key, value);
    },
    removeItem: (key) => {
      map.delete(key);
    },
  };
}

const schedule = (callback: () => void): void => {
  setTimeout(callback, 0);
};

/** Resolves with the first snapshot (current or published) that matches. */
function waitForSnapshot(
  session: ChatSession,
  predicate: (snapshot: SessionSnapshot) => boolean,
  timeoutMs = 5_000,
): Promise<SessionSnapshot> {
  return new Promise((resolve, reject) => {
    if (predicate(session.snapshot)) {
      resolve(session.snapshot);
      return;
    }
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no matching snapshot within ${timeoutMs} ms: ${JSON.stringify(session.snapshot)}`));
    }, timeoutMs);
    const unsubscribe = session.subscribe((snapshot) => {
      if (!predicate(snapshot)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(snapshot);
    });
  });
}

const assistantOf = (snapshot: SessionSnapshot) => snapshot.messages.find((m) => m.role === 'assistant');

describe('ChatSession in Node', () => {
  it('send() streams a user message and an assistant answer that completes with text, sources and stats', async () => {
    server.upstream.setScenario({ tokenCount: 30, interTokenMs: 5, seed: 23 });
    const storage = memoryStorage();
    const session = new ChatSession({
      client: new RivuletClient({ baseUrl: server.url }),
      storage,
      schedule,
    });
    const seen: SessionSnapshot[] = [];
    session.subscribe((snapshot) => seen.push(snapshot));
    await session.send('  how do I install it?  ');

    const snapshot = session.snapshot;
    expect(snapshot.messages).toHaveLength(2);
    expect(snapshot.messages[0]).toMatchObject({
      role: 'user',
      text: 'how do I install it?',
      status: 'complete',
    });
    const answer = snapshot.messages[1]!;
    expect(answer).toMatchObject({ role: 'assistant', status: 'complete', text: server.upstream.fullText() });
    expect(answer.runId).toMatch(/^run_/);
    expect(Array.isArray(answer.sources)).toBe(true);
    expect(typeof answer.stats?.ttftMs).toBe('number');
    expect(snapshot).toMatchObject({ busy: false, mode: 'stream', error: null });
    expect(snapshot.conversationId).toMatch(/.+/);
    // The text was shown as it streamed: some published snapshot held part of the answer.
    expect(
      seen.some((s) => {
        const partial = assistantOf(s);
        return partial?.status === 'streaming' && partial.text.length < server.upstream.fullText().length;
      }),
    ).toBe(true);
    // Nothing is left running, so a reload restores the conversation only.
    expect(JSON.parse(storage.map.get('rivulet:default')!)).toEqual({
      conversationId: snapshot.conversationId,
    });
  });

  it('streaming: false asks POST /api/chat and shows the whole answer', async () => {
    server.upstream.setScenario(QUICK);
    const { client, requests } = loggingClient(server.url);
    const session = new ChatSession({ client, streaming: false, schedule });
    await session.send('whole please');

    expect(requests.map((request) => `${request.method} ${request.path}`)).toEqual(['POST /api/chat']);
    expect(server.upstream.requests).toHaveLength(1);
    expect(session.snapshot.mode).toBe('json');
    expect(session.snapshot.messages).toHaveLength(2);
    expect(assistantOf(session.snapshot)).toMatchObject({
      status: 'complete',
      text: server.upstream.fullText(),
    });
    expect(session.snapshot.busy).toBe(false);
  });

  it('falls back to a whole answer when the stream cannot be opened, and stays in json mode', async () => {
    server.upstream.setScenario(QUICK);
    const { client, requests } = loggingClient(server.url, {
      refuse: (path) => path.endsWith('/api/chat/stream'),
    });
    const session = new ChatSession({ client, schedule });
    await session.send('through a proxy that breaks streams');

    expect(session.snapshot.mode).toBe('json');
    expect(session.snapshot.messages.map((message) => message.role)).toEqual(['user', 'assistant']);
    expect(assistantOf(session.snapshot)).toMatchObject({
      status: 'complete',
      text: server.upstream.fullText(),
    });
    expect(server.upstream.requests).toHaveLength(1);
    expect(requests.map((request) => request.path)).toEqual(['/api/chat/stream', '/api/chat']);

    // The next question goes straight to the whole-answer path.
    await session.send('and again');
    expect(requests.map((request) => request.path).slice(2)).toEqual(['/api/chat']);
    expect(session.snapshot.messages).toHaveLength(4);
  });

  for (const transport of ['sse', 'websocket'] as const) {
    it(`${transport}: a reloaded page rejoins the running answer once, with nothing repeated`, async () => {
      server.upstream.setScenario(SLOW);
      const storage = memoryStorage();
      const pageA = new ChatSession({
        client: new RivuletClient({ baseUrl: server.url }),
        storage,
        schedule,
        transport,
      });
      const sending = pageA.send('a long answer, then a reload');
      await waitForSnapshot(pageA, (s) => (assistantOf(s)?.text.length ?? 0) > 0);
      pageA.dispose();
      // The old page is gone: whatever it still did on the way out has happened.
      await sending;
      expect(server.upstream.requests[0]?.completed).not.toBe(true);

      const pageB = new ChatSession({
        client: new RivuletClient({ baseUrl: server.url }),
        storage,
        schedule,
        transport,
      });
      await pageB.restore();
      const final = await waitForSnapshot(pageB, (s) => assistantOf(s)?.status === 'complete');

      expect(final.messages.map((message) => message.role)).toEqual(['user', 'assistant']);
      expect(final.messages[0]!.text).toBe('a long answer, then a reload');
      expect(assistantOf(final)).toMatchObject({ status: 'complete', text: server.upstream.fullText() });
      expect(server.upstream.requests).toHaveLength(1);
      // Once it completed, nothing is left to rejoin: the same page's next restore has no running answer.
      await waitForSnapshot(pageB, (s) => !s.busy);
      expect(JSON.parse(storage.map.get('rivulet:default')!)).toEqual({
        conversationId: final.conversationId,
      });
    });
  }

  it('a reloaded page that cannot reach the running answer marks it failed instead of waiting forever', async () => {
    server.upstream.setScenario(SLOW);
    const storage = memoryStorage();
    const pageA = new ChatSession({ client: new RivuletClient({ baseUrl: server.url }), storage, schedule });
    const sending = pageA.send('reload while the network is down');
    await waitForSnapshot(pageA, (s) => (assistantOf(s)?.text.length ?? 0) > 0);
    pageA.dispose();
    await sending;

    // The history loads, but the run's event stream cannot be reached.
    const { client } = loggingClient(server.url, {
      retry: FAST_RETRY,
      refuse: (path) => path.startsWith('/api/runs/'),
    });
    const pageB = new ChatSession({ client, storage, schedule });
    await pageB.restore();
    const final = await waitForSnapshot(pageB, (s) => assistantOf(s)?.status === 'failed');
    expect(final.messages.map((message) => message.role)).toEqual(['user', 'assistant']);
    expect(assistantOf(final)?.error?.code).toBe('STREAM_INTERRUPTED');
    // Not stuck: the page is free to ask again, still streaming.
    const idle = await waitForSnapshot(pageB, (s) => !s.busy);
    expect(idle.mode).toBe('stream');
  });
});
