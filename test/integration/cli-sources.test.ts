// What `rivulet ingest` stores as a document's source (users and widget visitors see it): a path relative to the
// ingest root (the current directory or --base), never an absolute one; FAQ records headed by their question; and
// `rivulet documents delete --all`, confirmed on a terminal or with --yes. The real CLI in a child process.

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, rivulet, withStores, type CliResult } from '../helpers/cli.ts';

const TEST_TIMEOUT_MS = 120_000;
const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

async function sourcesIn(dataDir: string, collection = 'default'): Promise<string[]> {
  return withStores(dataDir, async (stores) =>
    (await stores.documents.listDocuments(collection, { limit: 1000 })).map((d) => d.source).sort(),
  );
}

/** `Collection "c": a added, u updated, n unchanged, f failed; ...` */
function summary(added: number, updated: number, unchanged: number, collection = 'default'): RegExp {
  return new RegExp(
    `^Collection "${collection}": ${added} added, ${updated} updated, ${unchanged} unchanged, 0 failed;`,
    'm',
  );
}

/**
 * Runs `rivulet <args>` on a pseudo-terminal (util-linux `script`), typing `input`, so the CLI sees a TTY as a person
 * at a terminal would give it.
 */
function rivuletOnTerminal(args: string[], cwd: string, dataDir: string, input: string): Promise<CliResult> {
  const quote = (word: string) => `'${word.replace(/'/gu, `'\\''`)}'`;
  const command = [process.execPath, '--experimental-strip-types', CLI, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd,
      env: cliEnv(cwd, dataDir),
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (data: string) => {
      stdout += data;
      // Answer once the question is on screen.
      if (input !== '' && stdout.includes('[y/N]')) {
        child.stdin.write(input);
        input = '';
      }
    });
    child.stderr.setEncoding('utf8').on('data', (data: string) => (stderr += data));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('sources, FAQ titles and delete --all (the real CLI)', () => {
  let root: string;
  let workDir: string;
  let outside: string;
  let dataCount = 0;
  const freshDataDir = () => join(root, `data-${(dataCount += 1)}`);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'rivulet-cli-sources-'));
    workDir = join(root, 'work');
    outside = join(root, 'elsewhere');
    await mkdir(join(workDir, 'docs'), { recursive: true });
    await mkdir(join(outside, 'handbook', 'sub'), { recursive: true });
    await writeFile(
      join(workDir, 'docs', 'guide.md'),
      '# Guide\n\nThe flamingo installer sets everything up.\n',
    );
    await writeFile(join(outside, 'handbook', 'intro.md'), '# Intro\n\nA quokka greets every new starter.\n');
    await writeFile(
      join(outside, 'handbook', 'sub', 'leave.md'),
      '# Leave\n\nThe wombat holiday lasts a week.\n',
    );
    await writeFile(join(outside, 'notes.txt'), 'A narwhal was seen near the pier.\n');
    await writeFile(
      join(workDir, 'faq.json'),
      JSON.stringify([
        {
          question: 'How do I reset my password?',
          answer: 'Open the settings page and press the reset button beside the hedgehog icon.',
        },
        {
          question: 'Can I export my data?',
          answer: 'Yes: the export tab writes a zip with the iguana log.',
        },
      ]),
    );
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it(
    'stores no absolute path: files outside the current directory are named from the directory given',
    async () => {
      const dataDir = freshDataDir();
      const run = await rivulet(
        ['ingest', join(outside, 'handbook'), join(outside, 'notes.txt'), join(workDir, 'docs', 'guide.md')],
        workDir,
        dataDir,
      );
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(summary(4, 0, 0));
      expect(run.stderr).toContain('3 of the files are outside');
      expect(run.stderr).toContain('--base');
      const sources = await sourcesIn(dataDir);
      expect(sources).toEqual(['docs/guide.md', 'handbook/intro.md', 'handbook/sub/leave.md', 'notes.txt']);
      for (const source of sources) expect(source).not.toContain(root);

      // The same arguments from the same directory: the same sources, so nothing changed.
      const again = await rivulet(
        ['ingest', join(outside, 'handbook'), join(outside, 'notes.txt'), join(workDir, 'docs', 'guide.md')],
        workDir,
        dataDir,
      );
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(summary(0, 0, 4));
      expect(await sourcesIn(dataDir)).toEqual(sources);

      // A glob outside is named from the directory before its pattern.
      const globbed = freshDataDir();
      const glob = await rivulet(['ingest', `${outside}/handbook/**/*.md`], workDir, globbed);
      expect(glob.code).toBe(0);
      expect(await sourcesIn(globbed)).toEqual(['handbook/intro.md', 'handbook/sub/leave.md']);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    '--base sets the directory sources are relative to; a base that is not a directory is refused',
    async () => {
      const dataDir = freshDataDir();
      const run = await rivulet(['ingest', join(outside, 'handbook'), '--base', outside], workDir, dataDir);
      expect(run.code).toBe(0);
      expect(run.stderr).toBe('');
      expect(await sourcesIn(dataDir)).toEqual(['handbook/intro.md', 'handbook/sub/leave.md']);
      const relativeBase = await rivulet(['ingest', 'docs', '--base', 'docs'], workDir, dataDir);
      expect(relativeBase.code).toBe(0);
      expect(await sourcesIn(dataDir)).toEqual(['guide.md', 'handbook/intro.md', 'handbook/sub/leave.md']);
      const again = await rivulet(['ingest', join(outside, 'handbook'), '--base', outside], workDir, dataDir);
      expect(again.stdout).toMatch(summary(0, 0, 2));

      const missing = await rivulet(['ingest', 'docs', '--base', 'no-such-dir'], workDir, dataDir);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('--base no-such-dir: not a directory.');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'heads each FAQ record by its question, without --title-field',
    async () => {
      const dataDir = freshDataDir();
      const run = await rivulet(['ingest', 'faq.json'], workDir, dataDir);
      expect(run.code).toBe(0);
      await withStores(dataDir, async (stores) => {
        const [hedgehog] = await stores.documents.searchText('default', 'hedgehog', 5);
        expect(hedgehog).toMatchObject({ source: 'faq.json', heading: 'How do I reset my password?' });
        expect(hedgehog?.text).toBe(
          'Open the settings page and press the reset button beside the hedgehog icon.',
        );
        // The question is searchable through its heading.
        const [byQuestion] = await stores.documents.searchText('default', 'export data', 5);
        expect(byQuestion?.heading).toBe('Can I export my data?');
      });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'documents delete --all: refused without --yes off a terminal, then empties only that collection',
    async () => {
      const dataDir = freshDataDir();
      await rivulet(['ingest', 'docs', 'faq.json'], workDir, dataDir);
      await rivulet(['ingest', join(outside, 'notes.txt'), '--collection', 'other'], workDir, dataDir);

      const refused = await rivulet(['documents', 'delete', '--all'], workDir, dataDir);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(
        'Refusing to delete 2 documents (3 chunks) from "default" without --yes',
      );
      expect(await sourcesIn(dataDir)).toEqual(['docs/guide.md', 'faq.json']);

      const withTarget = await rivulet(['documents', 'delete', 'faq.json', '--all'], workDir, dataDir);
      expect(withTarget.code).toBe(2);

      const deleted = await rivulet(['documents', 'delete', '--all', '--yes'], workDir, dataDir);
      expect(deleted.code).toBe(0);
      expect(deleted.stdout).toContain('Deleted 2 documents (3 chunks) from "default".');
      expect(await sourcesIn(dataDir)).toEqual([]);
      expect(await sourcesIn(dataDir, 'other')).toEqual(['notes.txt']);

      const empty = await rivulet(['documents', 'delete', '--all', '--yes'], workDir, dataDir);
      expect(empty.code).toBe(0);
      expect(empty.stdout).toContain('No documents in "default".');

      const other = await rivulet(
        ['documents', 'delete', '--all', '-y', '--collection', 'other'],
        workDir,
        dataDir,
      );
      expect(other.stdout).toContain('Deleted 1 documents (1 chunks) from "other".');
      expect(await sourcesIn(dataDir, 'other')).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'documents delete --all asks on a terminal: "n" keeps everything, "y" deletes',
    async () => {
      const dataDir = freshDataDir();
      await rivulet(['ingest', 'docs', 'faq.json'], workDir, dataDir);

      const declined = await rivuletOnTerminal(['documents', 'delete', '--all'], workDir, dataDir, 'n\n');
      expect(declined.stdout).toContain(
        'Delete 2 documents (3 chunks) from "default"? This cannot be undone. [y/N]',
      );
      expect(declined.stdout).toContain('Nothing deleted.');
      expect(declined.code).toBe(1);
      expect(await sourcesIn(dataDir)).toEqual(['docs/guide.md', 'faq.json']);

      const confirmed = await rivuletOnTerminal(['documents', 'delete', '--all'], workDir, dataDir, 'y\n');
      expect(confirmed.code).toBe(0);
      expect(confirmed.stdout).toContain('Deleted 2 documents (3 chunks) from "default".');
      expect(await sourcesIn(dataDir)).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );
});
