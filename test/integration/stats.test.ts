// GET /api/stats: the dashboard's data, from the server's own rolling aggregates.

import { describe, expect, it } from 'vitest';
import type { StatsSnapshot } from '../../src/observability/rolling-stats.ts';
import { readSse } from '../helpers/sse-client.ts';
import { startTestServer } from '../helpers/test-server.ts';

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
      const stats = (await response.json()) as StatsSnapshot & { activeStreams: number };
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

      const other = (await (await fetch(`${server.url}/api/stats?chatbotId=nobody`)).json()) as StatsSnapshot;
      expect(other.minutes.every((minute) => minute.runs === 0)).toBe(true);
      const bad = await fetch(`${server.url}/api/stats?window=forever`);
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    } finally {
      await server.close();
    }
  });
});
