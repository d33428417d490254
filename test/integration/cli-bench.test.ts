// `rivulet bench` run as a user runs it (a child process) against a running test server: the figures of both
// transports side by side, auth passed through, and a refusal of a non-loopback target before any request.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rivulet } from '../helpers/cli.ts';
import { signTestJwt } from '../helpers/jwt.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const SECRET = 'cli-bench-test-secret-that-is-long-enough';

let cwd: string;
let server: TestServer;
beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'rivulet-bench-'));
  // The request limits would turn a bench into a test of the limits.
  server = await startTestServer(
    {
      AUTH_JWT_SECRET: SECRET,
      RATE_LIMIT_PER_PRINCIPAL: '0',
      RATE_LIMIT_PER_IP: '0',
      MAX_STREAMS_PER_PRINCIPAL: '0',
    },
    { tokenCount: 15, interTokenMs: 4, seed: 12 },
  );
});
afterAll(async () => {
  await server.close();
  rmSync(cwd, { recursive: true, force: true });
});

const bench = (args: string[]) => rivulet(['bench', ...args], cwd, join(cwd, 'data'));

describe('rivulet bench', () => {
  it('prints TTFT, gap, tokens/s and errors for SSE and WebSocket side by side', async () => {
    const token = await signTestJwt(SECRET, 'bench-user');
    const before = server.upstream.requests.length;
    const result = await bench([
      '--url',
      server.url,
      '--token',
      token,
      '--concurrency',
      '2',
      '--duration',
      '1',
      '--max-streams',
      '12',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\| +\| +SSE \| WebSocket \|$/m);
    for (const label of ['TTFT p50 ms', 'TTFT p99 ms', 'gap p99 ms', 'tokens/s \\(all\\)']) {
      expect(result.stdout).toMatch(new RegExp(`^\\| ${label} +\\| +[\\d.]+ \\| +[\\d.]+ \\|$`, 'm'));
    }
    expect(result.stdout).toMatch(/^\| failed +\| +0 \| +0 \|$/m);
    const answers = /^\| answers +\| +(\d+) \| +(\d+) \|$/m.exec(result.stdout);
    const [sse, ws] = [Number(answers?.[1]), Number(answers?.[2])];
    expect(sse).toBeGreaterThan(0);
    expect(sse).toBeLessThanOrEqual(12);
    expect(ws).toBeGreaterThan(0);
    expect(ws).toBeLessThanOrEqual(12);
    // Every answer reached the provider: nothing was counted that the server did not generate.
    expect(server.upstream.requests.length - before).toBeGreaterThanOrEqual(sse + ws);
    expect(result.stdout).not.toContain('Errors by code');
  });

  it('counts refused answers by their code, and fails when none was answered', async () => {
    const result = await bench([
      '--url',
      server.url,
      '--api-key',
      'rk_wrong',
      '--duration',
      '1',
      '--max-streams',
      '2',
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/Errors by code:\n {2}SSE {2}UNAUTHORIZED {2}2/);
    expect(result.stdout).toMatch(/WebSocket {2}\S+ {2}\d+/);
    expect(result.stdout).not.toContain('rk_wrong');
  });

  it('refuses a target that is not a loopback address unless --allow-remote is given', async () => {
    const result = await bench(['--url', 'http://192.0.2.10:3000', '--duration', '1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('not a loopback address');
    expect(result.stderr).toContain('--allow-remote');
    expect(result.stdout).not.toContain('Benchmarking');
  });
});
