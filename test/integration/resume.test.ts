// Drops at random points and resumes: the client ends with exactly the upstream's text, nothing lost or repeated.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../fakes/openai-upstream.ts';
import { expectNoRepeats, readSseWithDrops, readWsWithDrops } from '../helpers/drops.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

// Deterministic drop points, so a failure can be replayed.
const DROPS = 200;
let server: TestServer;

beforeAll(async () => {
  // A long answer, fast enough that drops land both in the live tail and in the replayed backlog.
  server = await startTestServer({ RUN_GRACE_MS: '5000' }, { tokenCount: 3000, interTokenMs: 2, seed: 11 });
});
afterAll(async () => {
  await server.close();
});

describe('resume after drops', () => {
  it(`SSE: ${DROPS} drops at random byte offsets, resumed with Last-Event-ID, lose and repeat nothing`, async () => {
    server.upstream.reset();
    const result = await readSseWithDrops({
      baseUrl: () => server.url,
      body: { message: 'long answer' },
      drops: DROPS,
      random: mulberry32(42),
    });

    expect(result.drops).toBe(DROPS);
    expect(result.events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
    expectNoRepeats(result.events);
    const upstream = server.upstream.requests[0]!;
    expect(upstream.completed).toBe(true);
    expect(result.text).toBe(upstream.textSent);
    expect(result.text).toBe(server.upstream.fullText());
    expect(server.upstream.requests).toHaveLength(1);
  });

  it(`WebSocket: ${DROPS} dropped sockets resumed with lastSeq lose and repeat nothing`, async () => {
    server.upstream.reset();
    // A reconnecting WebSocket costs more than an HTTP request, so this answer streams slower to outlast 200 drops.
    server.upstream.setScenario({ tokenCount: 3000, interTokenMs: 3, seed: 12 });
    const result = await readWsWithDrops({
      baseUrl: () => server.url,
      body: { message: 'long answer over ws' },
      drops: DROPS,
      random: mulberry32(7),
    });

    expect(result.drops).toBe(DROPS);
    expect(result.events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
    expectNoRepeats(result.events);
    expect(result.text).toBe(server.upstream.fullText());
    expect(server.upstream.requests).toHaveLength(1);
  });
});
