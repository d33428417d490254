// `rivulet check` run as a user runs it (a child process) against fake providers speaking the OpenAI wire format:
// figures for a provider that answers, a coded error and exit 1 for one that does not, never a stack trace or a key.

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../fakes/openai-upstream.ts';
import { rivulet } from '../helpers/cli.ts';

const KEY = 'sk-check-test-0123456789abcdefSECRET';

let cwd: string;
let good: FakeUpstream;
let refusing: FakeUpstream;
let failing: FakeUpstream;
beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'rivulet-check-'));
  good = await startFakeUpstream({ scenario: { tokenCount: 12, interTokenMs: 2, seed: 7 } });
  refusing = await startFakeUpstream({ scenario: { errorStatus: 401 } });
  failing = await startFakeUpstream({ scenario: { errorStatus: 500 } });
});
afterAll(async () => {
  await Promise.all([good.close(), refusing.close(), failing.close()]);
  rmSync(cwd, { recursive: true, force: true });
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

function check(args: string[], env: Record<string, string>) {
  return rivulet(['check', ...args], cwd, join(cwd, 'data'), {
    LLM_PROVIDER: 'openai-compatible',
    LLM_MODEL: 'fake-model',
    LLM_API_KEY: KEY,
    ...env,
  });
}

describe('rivulet check', () => {
  it('streams through a provider that answers: exit 0, first token, tokens/s and usage printed', async () => {
    const result = await check([], { LLM_BASE_URL: good.url });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /ok {3}openai-compatible:fake-model \(first token \d+ ms, [\d.]+ tokens\/s\)/,
    );
    expect(result.stdout).toMatch(
      /\| openai-compatible:fake-model \| ok +\| +\d+ \| +\d+ \| +[\d.]+ \| +\d+ \| +12 \|/,
    );
    expect(result.stdout).toContain('Every provider answered.');
    expect(good.requests.at(-1)?.body).toMatchObject({ stream: true });
  });

  it('asks without streaming with --no-stream', async () => {
    const result = await check(['--no-stream'], { LLM_BASE_URL: good.url });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('without streaming');
    expect(good.requests.at(-1)?.body).not.toMatchObject({ stream: true });
  });

  it('tries every provider of the chain in order and fails with the codes of those that failed', async () => {
    const port = await closedPort();
    const result = await check([], {
      LLM_BASE_URL: refusing.url,
      LLM_FALLBACK: `openai-compatible:second@${failing.url},openai-compatible:third@http://127.0.0.1:${port}/v1,openai-compatible:fourth@${good.url}`,
    });
    expect(result.code).toBe(1);
    const lines = result.stdout.split('\n');
    const verdicts = lines.filter((line) => /^(ok|FAIL)/.test(line));
    expect(verdicts.map((line) => line.split(/\s+/).slice(0, 2).join(' '))).toEqual([
      'FAIL openai-compatible:fake-model',
      'FAIL openai-compatible:second',
      'FAIL openai-compatible:third',
      'ok openai-compatible:fourth',
    ]);
    expect(result.stdout).toContain('UPSTREAM_AUTH_FAILED');
    expect(result.stdout).toContain('UPSTREAM_UNAVAILABLE');
    expect(result.stdout).toContain('3 of 4 provider(s) failed.');
    for (const output of [result.stdout, result.stderr]) {
      expect(output).not.toContain(KEY);
      expect(output).not.toContain('SECRET');
      expect(output).not.toMatch(/\n\s+at /);
    }
  });

  it('says there is nothing to check when no provider is configured', async () => {
    const result = await rivulet(['check'], cwd, join(cwd, 'data'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('No language model is configured');
  });
});
