// bench/floor-relay.ts, the floor of bench:answers, does an answer's own work for real: it stores the question and the
// answer, searches the sample corpus, streams the upstream's tokens and reads a follow-up's history. A floor that
// skipped any of that would make Rivulet's machinery look dearer than it is.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databasePath } from '../../src/stores/open-stores.ts';
import { startFakeUpstream, type FakeUpstream } from '../fakes/openai-upstream.ts';
import { freePort } from '../helpers/ports.ts';
import { lastEvent, readSse, tokenText } from '../helpers/sse-client.ts';

const FLOOR = fileURLToPath(new URL('../../bench/floor-relay.ts', import.meta.url));
const QUESTION = 'How does resuming a stream work after the connection drops?';

let upstream: FakeUpstream | undefined;
let floor: ChildProcess | undefined;
let dataDir: string | undefined;
let url: string;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  upstream.setScenario({ tokens: ['Resume ', 'with ', 'Last-Event-ID.'] });
  const directory = mkdtempSync(join(tmpdir(), 'rivulet-floor-test-'));
  dataDir = directory;
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [FLOOR], {
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: directory,
      SAMPLE_CORPUS: 'true',
      EMBEDDING_PROVIDER: 'none',
      LLM_PROVIDER: 'openai-compatible',
      LLM_BASE_URL: upstream.url,
      LLM_MODEL: 'floor-model',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  floor = child;
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const until = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the floor relay exited: ${stderr}`);
    if (Date.now() > until) throw new Error(`the floor relay did not start: ${stderr}`);
    try {
      if ((await fetch(url)).status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}, 40_000);

afterAll(async () => {
  if (floor !== undefined && floor.exitCode === null && floor.signalCode === null) {
    const exited = new Promise((resolve) => floor?.once('exit', resolve));
    floor.kill('SIGKILL');
    await exited;
  }
  await upstream?.close();
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
});

function storedMessages(conversationId: string): { role: string; content: string; status: string | null }[] {
  const database = new DatabaseSync(databasePath(dataDir as string), { readOnly: true });
  try {
    return database
      .prepare('SELECT role, content, status FROM messages WHERE conversation_id = ? ORDER BY seq')
      .all(conversationId) as { role: string; content: string; status: string | null }[];
  } finally {
    database.close();
  }
}

describe('the floor relay (bench:answers)', () => {
  it('answers with sources from the sample corpus and stores the question and the whole answer', async () => {
    const result = await readSse(`${url}/api/chat/stream`, { body: { message: QUESTION } });
    expect(result.status).toBe(200);
    const [start, sources] = result.frames.map((frame) => frame.event);
    expect([start, sources]).toEqual(['start', 'sources']);
    const sent = result.frames[1]?.data as unknown as { sources: { title: string }[] };
    expect(sent.sources).toHaveLength(6);
    expect(tokenText(result.frames)).toBe('Resume with Last-Event-ID.');
    expect(lastEvent(result.frames)).toMatchObject({ finishReason: 'stop' });
    const { conversationId } = result.frames[0]?.data as unknown as { conversationId: string };
    expect(storedMessages(conversationId)).toEqual([
      { role: 'user', content: QUESTION, status: null },
      { role: 'assistant', content: 'Resume with Last-Event-ID.', status: 'complete' },
    ]);
    // The model was asked with the passages in its prompt.
    const asked = upstream?.requests.at(-1)?.body as { messages: { role: string; content: string }[] };
    expect(asked.messages[0]?.content).toContain('[1] ');
    // The answer's row carries the timings its done event gave, as Rivulet's does.
    const done = lastEvent(result.frames) as unknown as { timings: { totalMs: number } };
    const database = new DatabaseSync(databasePath(dataDir as string), { readOnly: true });
    try {
      const row = database
        .prepare("SELECT timings FROM messages WHERE conversation_id = ? AND role = 'assistant'")
        .get(conversationId) as { timings: string };
      expect(JSON.parse(row.timings)).toEqual(done.timings);
    } finally {
      database.close();
    }
  });

  it('asks a follow-up with the conversation so far and stores it in the same conversation', async () => {
    const first = await readSse(`${url}/api/chat/stream`, { body: { message: QUESTION } });
    const { conversationId } = first.frames[0]?.data as unknown as { conversationId: string };
    const followUp = await readSse(`${url}/api/chat/stream`, {
      body: { message: 'And after a reload?', conversationId },
    });
    expect(tokenText(followUp.frames)).toBe('Resume with Last-Event-ID.');
    const asked = upstream?.requests.at(-1)?.body as { messages: { role: string; content: string }[] };
    expect(asked.messages.slice(1)).toEqual([
      { role: 'user', content: QUESTION },
      { role: 'assistant', content: 'Resume with Last-Event-ID.' },
      { role: 'user', content: 'And after a reload?' },
    ]);
    expect(storedMessages(conversationId).map((message) => message.status)).toEqual([
      null,
      'complete',
      null,
      'complete',
    ]);
  });

  it('ends a request it cannot answer with an error event, and answers the next one', async () => {
    const response = await fetch(`${url}/api/chat/stream`, { method: 'POST', body: '{"message": ' });
    expect(response.status).toBe(500);
    expect(await response.text()).toContain('"code":"FLOOR_FAILED"');
    const unknown = await fetch(`${url}/api/chat/stream`, {
      method: 'POST',
      body: JSON.stringify({ message: QUESTION, conversationId: 'conv_missing' }),
    });
    expect(await unknown.text()).toContain('conversation not found');
    const result = await readSse(`${url}/api/chat/stream`, { body: { message: QUESTION } });
    expect(tokenText(result.frames)).toBe('Resume with Last-Event-ID.');
  });

  it('closes on SIGTERM and exits 0, as the bench stops it (so --cpu-prof writes its profile)', async () => {
    const child = floor as ChildProcess;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
