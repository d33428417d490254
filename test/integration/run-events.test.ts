// GET /api/runs/:runId/events: joinable from a plain EventSource, resumable by header or query, coded refusals.

import { EventSource } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/core/events.ts';
import { lastEvent, readSse, tokenText } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(
    { SSE_RETRY_MS: '50', SSE_PING_MS: '100' },
    { tokenCount: 60, interTokenMs: 2, seed: 41 },
  );
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.upstream.reset();
});

async function startRun(): Promise<string> {
  const response = await fetch(`${server.url}/api/chat/stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: 'for EventSource' }),
  });
  const runId = response.headers.get('x-run-id')!;
  await response.body?.cancel();
  return runId;
}

describe('GET /api/runs/:runId/events', () => {
  it('works with a plain EventSource, which stops reconnecting after the terminal event (204)', async () => {
    const runId = await startRun();
    const source = new EventSource(`${server.url}/api/runs/${runId}/events`);
    const events: RunEvent[] = [];
    let opens = 0;
    source.addEventListener('open', () => (opens += 1));
    for (const type of ['start', 'phase', 'token', 'usage', 'done', 'error']) {
      source.addEventListener(type, (message) => {
        // `error` is also EventSource's own connection-error event, which carries no data.
        const data = (message as MessageEvent<string | undefined>).data;
        if (typeof data === 'string') events.push(JSON.parse(data) as RunEvent);
      });
    }
    // After `done` the server closes; EventSource reconnects with Last-Event-ID, gets 204 and gives up.
    await new Promise<void>((resolve) =>
      source.addEventListener('error', () => source.readyState === EventSource.CLOSED && resolve()),
    );
    expect(source.readyState).toBe(EventSource.CLOSED);
    expect(opens).toBe(1);
    expect(events.at(-1)).toMatchObject({ type: 'done', text: server.upstream.fullText() });
    expect(tokenText(events.map((data) => ({ data })))).toBe(server.upstream.fullText());
    const seqs = events.map((event) => event.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('resumes after a seq given by ?lastEventId= as well as by the Last-Event-ID header', async () => {
    const runId = await startRun();
    const all = await readSse(`${server.url}/api/runs/${runId}/events`);
    const cut = all.frames.find((frame) => frame.data.type === 'token')!;
    const byQuery = await readSse(
      `${server.url}/api/runs/${runId}/events?lastEventId=${encodeURIComponent(cut.id!)}`,
    );
    const byHeader = await readSse(`${server.url}/api/runs/${runId}/events`, {
      headers: { 'last-event-id': cut.id! },
    });
    for (const resumed of [byQuery, byHeader]) {
      expect(resumed.frames[0]?.data.seq).toBeGreaterThan(cut.data.seq);
      expect(tokenText([cut, ...resumed.frames])).toBe(tokenText(all.frames));
      expect(lastEvent(resumed.frames)).toEqual(lastEvent(all.frames));
    }
  });

  it('refuses malformed or foreign Last-Event-IDs with 400 BAD_LAST_EVENT_ID', async () => {
    const runId = await startRun();
    for (const bad of ['nonsense', 'run_other:3', `${runId}:-2`, `${runId}:1e3`]) {
      const response = await fetch(`${server.url}/api/runs/${runId}/events`, {
        headers: { 'last-event-id': bad },
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: { code: 'BAD_LAST_EVENT_ID' } });
    }
  });

  it('answers 404 RUN_NOT_FOUND for unknown or malformed run ids', async () => {
    const cases: [string, number, string][] = [
      ['run_doesnotexist', 404, 'RUN_NOT_FOUND'],
      ['x'.repeat(3000), 400, 'VALIDATION_FAILED'],
      ['bad%20id', 400, 'VALIDATION_FAILED'],
    ];
    for (const [runId, status, code] of cases) {
      const response = await fetch(`${server.url}/api/runs/${runId}/events`);
      const body = (await response.json()) as { error: { code: string } };
      expect([response.status, body.error.code]).toEqual([status, code]);
    }
  });

  it('sends ": ping" comments while the answer is quiet, which parsers ignore', async () => {
    server.upstream.enqueue({ tokenCount: 3, ttftMs: 450, seed: 41 });
    const response = await fetch(`${server.url}/api/chat/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'think first' }),
    });
    const text = await response.text();
    expect(text.startsWith('retry: 50\n\n')).toBe(true);
    const firstToken = text.indexOf('event: token');
    expect(text.slice(0, firstToken)).toMatch(/\n: ping\n\n[\s\S]*\n: ping\n\n/);
    const parsed = await readSse(`${server.url}/api/runs/${response.headers.get('x-run-id')!}/events`);
    expect(tokenText(parsed.frames)).toBe(server.upstream.fullText({ tokenCount: 3, seed: 41 }));
  });

  it('names the query parameter when a query is refused', async () => {
    const runId = await startRun();
    const response = await fetch(`${server.url}/api/runs/${runId}/events?since=3`);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('VALIDATION_FAILED');
    expect(body.error.message).toMatch(/query/);
  });

  it('accepts a stop sent with a JSON content type and no body', async () => {
    server.upstream.enqueue({ tokenCount: 200, interTokenMs: 10, seed: 41 });
    const runId = await startRun();
    const response = await fetch(`${server.url}/api/runs/${runId}/stop`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ runId, stopped: true });
  });

  it('sends blank keep-alive lines on a quiet NDJSON stream, and nothing else that is not an event', async () => {
    server.upstream.enqueue({ tokenCount: 3, ttftMs: 450, seed: 41 });
    const response = await fetch(`${server.url}/api/chat/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' },
      body: JSON.stringify({ message: 'think first' }),
    });
    const lines = (await response.text()).split('\n');
    // The last element is what follows the final newline; blank lines before it are the keep-alives.
    expect(lines.slice(0, -1).filter((line) => line === '').length).toBeGreaterThan(0);
    const events = lines.filter((line) => line !== '').map((line) => JSON.parse(line) as RunEvent);
    expect(events.at(-1)).toMatchObject({
      type: 'done',
      text: server.upstream.fullText({ tokenCount: 3, seed: 41 }),
    });
  });

  it('answers 204 to a reader that already has the terminal event', async () => {
    const runId = await startRun();
    const all = await readSse(`${server.url}/api/runs/${runId}/events`);
    const response = await fetch(`${server.url}/api/runs/${runId}/events`, {
      headers: { 'last-event-id': all.frames.at(-1)!.id! },
    });
    expect(response.status).toBe(204);
  });
});
