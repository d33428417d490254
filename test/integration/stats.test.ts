// GET /api/stats: the dashboard's data, from the server's own rolling aggregates.

import { describe, expect, it } from 'vitest';
import type { StatsResponse } from '../../web/client/index.ts';
import { call, expectRefusal } from '../helpers/http.ts';
import { signTestJwt } from '../helpers/jwt.ts';
import { chatStream, expectAnswered, readSse } from '../helpers/sse-client.ts';
import { putTestChatbot, startTestServer } from '../helpers/test-server.ts';

describe('GET /api/stats', () => {
  it('shows the last hour per minute: runs, failures by code, TTFT and tokens/s', async () => {
    const server = await startTestServer({ LLM_RETRIES: '0' }, { tokenCount: 8 });
    try {
      await readSse(`${server.url}/api/chat/stream`, { body: { message: 'first' } });
      server.upstream.setScenario({ errorStatus: 500 });
      await readSse(`${server.url}/api/chat/stream`, { body: { message: 'second' } });
      await server.app.chat.settled();

      const response = await fetch(`${server.url}/api/stats`);
      expect(response.status).toBe(200);
      const stats = (await response.json()) as StatsResponse;
      expect(stats.minutes).toHaveLength(60);
      expect(stats.chatbots).toEqual(['default']);
      expect(stats.providers).toEqual(['openai-compatible']);
      expect(stats.activeStreams).toBe(0);
      const total = stats.minutes.reduce((sum, minute) => sum + minute.runs, 0);
      expect(total).toBe(2);
      const busy = stats.minutes.filter((minute) => minute.runs > 0);
      const failed = busy.reduce((sum, minute) => sum + minute.failed, 0);
      expect(failed).toBe(1);
      expect(busy.some((minute) => minute.errors.UPSTREAM_UNAVAILABLE === 1)).toBe(true);
      expect(busy.some((minute) => (minute.ttftP50Ms ?? 0) > 0 && (minute.tokensPerSecondP50 ?? 0) > 0)).toBe(
        true,
      );
      // The last 5 minutes as one span (the dashboard's tiles): the one answer with a first token is its TTFT.
      expect(stats.recent).toMatchObject({ minutes: 5, runs: 2, failed: 1 });
      const answered = busy.find((minute) => minute.ttftP50Ms !== null);
      expect(stats.recent.ttftP50Ms).toBe(answered?.ttftP50Ms);
      expect(stats.recent.ttftP95Ms).toBe(answered?.ttftP50Ms);

      const other = (await (await fetch(`${server.url}/api/stats?chatbotId=nobody`)).json()) as StatsResponse;
      expect(other.minutes.every((minute) => minute.runs === 0)).toBe(true);
      const bad = await fetch(`${server.url}/api/stats?window=forever`);
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    } finally {
      await server.close();
    }
  });
});

describe('GET /api/stats for an organisation admin', () => {
  const SECRET = 'rivulet-stats-secret-of-more-than-32-chars';
  const token = (sub: string, claims: Record<string, unknown>) => signTestJwt(SECRET, sub, claims);
  const bearer = async (sub: string, claims: Record<string, unknown>) => ({
    authorization: `Bearer ${await token(sub, claims)}`,
  });

  it("shows its own chatbots' figures only: no other organisation's ids, errors or active streams", async () => {
    const server = await startTestServer(
      { AUTH_JWT_SECRET: SECRET, LIMITS: 'off', LLM_RETRIES: '0', ANSWER_CACHE: 'false' },
      { tokenCount: 4 },
    );
    try {
      await putTestChatbot(server, 'acme-bot', { orgId: 'acme', visibility: 'private' });
      await putTestChatbot(server, 'globex-bot', { orgId: 'globex', visibility: 'private' });
      const acmeMember = await bearer('ann', { org: 'acme' });
      const globexMember = await bearer('gus', { org: 'globex' });
      const acmeAdmin = await bearer('ada', { org: 'acme', role: 'admin' });
      const globalAdmin = await bearer('root', { role: 'admin' });

      expectAnswered(await chatStream(server.url, acmeMember, { message: 'acme', chatbotId: 'acme-bot' }));
      // Globex: one failure (its error code must not show to acme) and one answer still streaming.
      server.upstream.enqueue({ errorStatus: 500 });
      const failed = await chatStream(server.url, globexMember, {
        message: 'globex',
        chatbotId: 'globex-bot',
      });
      expect(failed.frames.at(-1)?.data).toMatchObject({ type: 'error', code: 'UPSTREAM_UNAVAILABLE' });
      server.upstream.enqueue({ tokenCount: 4, stallAfter: 1 });
      let runId = '';
      let streaming!: () => void;
      const firstToken = new Promise<void>((resolve) => (streaming = resolve));
      const stalled = readSse(`${server.url}/api/chat/stream`, {
        body: { message: 'globex again', chatbotId: 'globex-bot' },
        headers: globexMember,
        onFrame(frame) {
          if (frame.data.type === 'start') runId = frame.data.runId;
          if (frame.data.type === 'token') streaming();
        },
      });
      await firstToken;

      const own = await call(server, '/api/stats', { headers: acmeAdmin });
      expect(own.status).toBe(200);
      const ownStats = own.body as unknown as StatsResponse & { activeStreams: number };
      expect(own.text).not.toContain('globex');
      expect(ownStats.chatbots).toEqual(['acme-bot']);
      expect(ownStats.activeStreams).toBe(0);
      expect(ownStats.minutes.reduce((sum, minute) => sum + minute.runs, 0)).toBe(1);
      expect(ownStats.minutes.every((minute) => Object.keys(minute.errors).length === 0)).toBe(true);
      // Its own answer streamed alone: the peak counts it, not globex's streams.
      expect(Math.max(...ownStats.minutes.map((minute) => minute.activeStreamsMax))).toBe(1);

      const one = await call(server, '/api/stats?chatbotId=acme-bot', { headers: acmeAdmin });
      expect(one.status).toBe(200);
      expect(one.text).not.toContain('globex');
      expect((one.body as unknown as { activeStreams: number }).activeStreams).toBe(0);
      // Another organisation's chatbot, or the shared one: refused, the same way as one that does not exist.
      for (const chatbotId of ['globex-bot', 'default', 'nobody']) {
        expectRefusal(
          await call(server, `/api/stats?chatbotId=${chatbotId}`, { headers: acmeAdmin }),
          403,
          'FORBIDDEN',
        );
      }

      // An admin of no organisation sees the whole server.
      const all = await call(server, '/api/stats', { headers: globalAdmin });
      const allStats = all.body as unknown as StatsResponse & { activeStreams: number };
      expect(allStats.chatbots).toEqual(['acme-bot', 'globex-bot']);
      expect(allStats.activeStreams).toBe(1);
      expect(allStats.minutes.some((minute) => minute.errors.UPSTREAM_UNAVAILABLE === 1)).toBe(true);
      // The public health check does not tell anyone how busy the server is either.
      const health = await call(server, '/healthz');
      expect(health.status).toBe(200);
      expect(Object.keys(health.body).sort()).toEqual(['status', 'uptimeSeconds']);
      const globex = await call(server, '/api/stats?chatbotId=globex-bot', { headers: globalAdmin });
      expect((globex.body as unknown as { activeStreams: number }).activeStreams).toBe(1);

      expect(
        (await call(server, `/api/runs/${runId}/stop`, { method: 'POST', headers: globexMember })).status,
      ).toBe(200);
      await stalled;
    } finally {
      await server.close();
    }
  });
});
