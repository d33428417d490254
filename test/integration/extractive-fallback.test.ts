// When every provider fails before the first token and passages were retrieved, the answer quotes them instead of
// failing (LLM_EXTRACTIVE_FALLBACK, on by default): readers get a `failover` to `extractive` with the error code and
// never the detail; an admin reads what to fix from GET /api/runs/:runId/diagnosis.

import { describe, expect, it } from 'vitest';
import { EXTRACTIVE_PROVIDER, type RunEvent } from '../../src/core/events.ts';
import { MODEL_UNAVAILABLE_PREAMBLE } from '../../src/providers/extractive.ts';
import { lastEvent, readSse, tokenText } from '../helpers/sse-client.ts';
import { startTestServer } from '../helpers/test-server.ts';

const ask = (url: string, message: string) =>
  readSse(`${url}/api/chat/stream`, { method: 'POST', body: { message } });

describe('extractive fallback when the provider chain fails', () => {
  it('answers with the retrieved passages under a coded failover, and tells only admins what to fix', async () => {
    const server = await startTestServer(
      { SAMPLE_CORPUS: 'true', LLM_RETRIES: '0', ANSWER_CACHE: 'false', LLM_API_KEY: 'sk-wrong-key' },
      { errorStatus: 401 },
    );
    try {
      const result = await ask(server.url, 'How do I resume a stream after a network drop?');
      const events = result.frames.map((frame) => frame.data);
      const failover = events.find((event) => event.type === 'failover');
      expect(failover).toMatchObject({ to: EXTRACTIVE_PROVIDER, reason: 'UPSTREAM_AUTH_FAILED' });
      expect(events.some((event) => event.type === 'sources')).toBe(true);
      const text = tokenText(result.frames);
      expect(text.startsWith(MODEL_UNAVAILABLE_PREAMBLE)).toBe(true);
      expect(text).toMatch(/> .+ \[1\]/);
      expect(lastEvent(result.frames)).toMatchObject({ type: 'done', finishReason: 'stop' });
      // Nothing a visitor should not read: no setting names, no upstream body, no key.
      const wire = JSON.stringify(events);
      expect(wire).not.toMatch(/API_KEY|sk-wrong|Incorrect API key|LLM_BASE_URL/);
      expect(server.upstream.requests.length).toBeGreaterThanOrEqual(1);

      // The admin's diagnosis of that run names the variable to fix.
      const start = events.find(
        (event): event is Extract<RunEvent, { type: 'start' }> => event.type === 'start',
      );
      const diagnosis = await fetch(`${server.url}/api/runs/${start?.runId}/diagnosis`);
      expect(diagnosis.status).toBe(200);
      expect(await diagnosis.json()).toMatchObject({
        provider: 'openai-compatible',
        code: 'UPSTREAM_AUTH_FAILED',
        hint: expect.stringMatching(/^LLM_API_KEY rejected \(401\)/) as unknown,
      });
      const unknown = await fetch(`${server.url}/api/runs/run_nothing_failed/diagnosis`);
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toMatchObject({ error: { code: 'RUN_NOT_FOUND' } });
    } finally {
      await server.close();
    }
  });

  it('keeps the coded error when no passage matched, or when LLM_EXTRACTIVE_FALLBACK=false', async () => {
    const empty = await startTestServer({ LLM_RETRIES: '0' }, { errorStatus: 500 });
    const off = await startTestServer(
      { SAMPLE_CORPUS: 'true', LLM_RETRIES: '0', ANSWER_CACHE: 'false', LLM_EXTRACTIVE_FALLBACK: 'false' },
      { errorStatus: 500 },
    );
    try {
      for (const server of [empty, off]) {
        const result = await ask(server.url, 'How do I resume a stream after a network drop?');
        expect(result.frames.some((frame) => frame.data.type === 'failover')).toBe(false);
        expect(lastEvent(result.frames)).toMatchObject({ type: 'error', code: 'UPSTREAM_UNAVAILABLE' });
      }
    } finally {
      await empty.close();
      await off.close();
    }
  });

  it('requires an admin for the diagnosis', async () => {
    const server = await startTestServer({
      AUTH_MODE: 'required',
      AUTH_JWT_SECRET: 'a-test-secret-that-is-at-least-32-chars',
    });
    try {
      const response = await fetch(`${server.url}/api/runs/run_x/diagnosis`);
      expect(response.status).toBe(401);
    } finally {
      await server.close();
    }
  });
});
