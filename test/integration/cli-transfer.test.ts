// `rivulet export` and `rivulet import` as a user runs them: real child processes, configured by DATA_DIR or
// DATABASE_URL, with their messages, exit statuses, and a progress bar only on a terminal.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, rivulet, withStores, type CliResult } from '../helpers/cli.ts';
import { fillInstallation } from '../helpers/installation.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../helpers/postgres.ts';
import { body } from '../helpers/transfer.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** `rivulet <args>` with extra environment (DATABASE_URL), optionally on a pseudo-terminal (util-linux `script`). */
function run(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  options: { terminal?: boolean } = {},
): Promise<CliResult> {
  const argv = [process.execPath, '--experimental-strip-types', CLI, ...args];
  const quote = (word: string) => `'${word.replace(/'/gu, `'\\''`)}'`;
  const [command, ...rest] =
    options.terminal === true ? ['script', '-qec', argv.map(quote).join(' '), '/dev/null'] : argv;
  return new Promise((resolve, reject) => {
    const child = spawn(command ?? '', rest, {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (data: string) => (stdout += data));
    child.stderr.setEncoding('utf8').on('data', (data: string) => (stderr += data));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('rivulet export and import (the real CLI)', () => {
  let root: string;
  let sourceDir: string;
  let exported: string;
  let count = 0;
  const fresh = () => join(root, `data-${(count += 1)}`);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'rivulet-cli-transfer-'));
    sourceDir = join(root, 'source');
    await withStores(sourceDir, fillInstallation);
    exported = join(root, 'export.jsonl');
    const result = await rivulet(['export', exported], root, sourceDir);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('exports and imports into a new DATA_DIR, and exports the same again, quietly off a terminal', async () => {
    const target = fresh();
    const imported = await rivulet(['import', exported], root, target);
    expect(imported.stderr).toBe('');
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(
      /^Imported 3 documents \(5 chunks\), 2 chatbots, 2 API keys, 2 conversations \(5 messages\), 3 token usage records into .*rivulet\.sqlite \(exported from sqlite at /,
    );
    const again = join(root, 'again.jsonl');
    const exportedAgain = await rivulet(['export', again], root, target);
    expect(exportedAgain.code).toBe(0);
    expect(exportedAgain.stdout).toMatch(
      /^Exported 3 documents \(5 chunks\), .* to .*again\.jsonl \(\d+ KB\)\.$/m,
    );
    expect(await body(again)).toBe(await body(exported));
  });

  it('refuses an installation that is not new, with exit status 1 and no stack trace', async () => {
    const result = await rivulet(['import', exported], root, sourceDir);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^The installation to import into is not empty: it holds 3 documents/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a newer format version and a malformed line, leaving the target empty', async () => {
    const text = await readFile(exported, 'utf8');
    const newer = join(root, 'newer.jsonl');
    await writeFile(newer, text.replace('"version":1', '"version":7'));
    const target = fresh();
    const refused = await rivulet(['import', newer], root, target);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('is export format version 7; this Rivulet reads versions up to 1.');

    const broken = join(root, 'broken.jsonl');
    const lines = text.split('\n');
    lines[14] = '{"kind":"chunk",';
    await writeFile(broken, lines.join('\n'));
    const malformed = await rivulet(['import', broken], root, target);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/^line 15: not valid JSON/);

    // Still new: the whole file goes in afterwards.
    expect((await rivulet(['import', exported], root, target)).code).toBe(0);
  });

  it('says how to use it: no file is exit status 2, an existing file needs --force', async () => {
    const missing = await rivulet(['import'], root, fresh());
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('Usage: rivulet import <file>');
    const help = await rivulet(['export', '--help'], root, sourceDir);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('API keys (their hashes, never the keys)');
    const exists = await rivulet(['export', exported], root, sourceDir);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toContain('exists already');
    const forced = await rivulet(['export', exported, '--force'], root, sourceDir);
    expect(forced.code).toBe(0);
    const untouched = fresh();
    const nofile = await rivulet(['import', join(root, 'nope.jsonl')], root, untouched);
    expect(nofile.code).toBe(1);
    expect(nofile.stderr).toMatch(/nope\.jsonl: ENOENT/);
    // A mistyped file name creates no installation.
    await expect(stat(untouched)).rejects.toThrow(/ENOENT/);
  });

  it('shows a progress bar on a terminal', async () => {
    const result = await run(['import', exported], root, cliEnv(root, fresh()), { terminal: true });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/importing .*\d+\/\d+ records/);
  });

  describe.skipIf(postgresSkipReason !== undefined)('with DATABASE_URL', () => {
    const databases: TestDatabase[] = [];
    afterAll(async () => {
      await Promise.all(databases.map((database) => database.drop()));
    });

    it('moves the SQLite installation into PostgreSQL and back out the same', async () => {
      const database = await createTestDatabase('cli_transfer');
      databases.push(database);
      const env = { ...cliEnv(root, join(root, 'unused')), DATABASE_URL: database.url };
      const imported = await run(['import', exported], root, env);
      expect(imported.code).toBe(0);
      expect(imported.stdout).toMatch(/into PostgreSQL 127\.0\.0\.1:5432\//);
      const back = join(root, 'from-postgres.jsonl');
      expect((await run(['export', back], root, env)).code).toBe(0);
      // Into SQLite again: the file from PostgreSQL round-trips as well.
      const target = fresh();
      expect((await rivulet(['import', back], root, target)).code).toBe(0);
      const again = join(root, 'from-postgres-again.jsonl');
      expect((await rivulet(['export', again], root, target)).code).toBe(0);
      expect(await body(again)).toBe(await body(back));
    });
  });
});
