// `npm run bench` passes one command line to three benchmarks in turn (stream, retrieval, answer cost): each must take
// the others' flags and refuse an unknown one. Run as `npm run bench` runs them (child processes), with --help, so
// nothing is started.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const BENCHES = ['stream-bench.ts', 'retrieval-bench.ts', 'answer-cost-bench.ts'];
/** One flag of each benchmark's own, as a user passes them to `npm run bench`. */
const EVERY_BENCH_FLAGS = [
  '--scenarios',
  'none',
  '--compression',
  '--chunks',
  '500',
  '--answers',
  '16',
  '--trials',
  '1',
];

const bench = (script: string, args: string[]) =>
  run(process.execPath, [join(ROOT, 'bench', script), ...args], { cwd: ROOT, timeout: 30_000 });

describe('the benchmarks behind npm run bench', () => {
  it.each(BENCHES)('%s takes every benchmark’s flags and says which are the others’', async (script) => {
    const { stdout } = await bench(script, [...EVERY_BENCH_FLAGS, '--help']);
    expect(stdout).toMatch(/^Usage: npm run bench/);
    expect(stdout).toContain("the others' are ignored here");
  });

  it.each(BENCHES)('%s refuses a flag no benchmark has', async (script) => {
    await expect(bench(script, ['--scenario', 'held', '--help'])).rejects.toMatchObject({
      stderr: expect.stringContaining("Unknown option '--scenario'") as unknown,
    });
  });
});
