// The `rivulet ingest` and `rivulet documents` commands run as a user runs them: the real CLI in a child process,
// in a directory of generated files, with a fresh DATA_DIR. Checks the exit codes and what is printed, then opens
// the SQLite database the command wrote to see what went in and whether it can be found.

import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rivulet, withStores } from '../helpers/cli.ts';

const TEST_TIMEOUT_MS = 120_000;

async function sourcesIn(dataDir: string, collection: string): Promise<string[]> {
  return withStores(dataDir, async (stores) =>
    (await stores.documents.listDocuments(collection, { limit: 1000 })).map((d) => d.source).sort(),
  );
}

async function searchSources(dataDir: string, collection: string, query: string): Promise<string[]> {
  return withStores(dataDir, async (stores) =>
    (await stores.documents.searchText(collection, query, 5)).map((hit) => hit.source),
  );
}

/** `Collection "c": a added, u updated, n unchanged, f failed; k chunks indexed in s s.` */
function summaryLine(collection: string, added: number, updated: number, unchanged: number, failed: number) {
  return new RegExp(
    `^Collection "${collection}": ${added} added, ${updated} updated, ${unchanged} unchanged, ${failed} failed; ` +
      `\\d+ chunks indexed in \\d+\\.\\d s\\.$`,
    'm',
  );
}

async function makePdf(text: string): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  pdf.addPage().drawText(text, { x: 50, y: 700, size: 12, font });
  return pdf.save();
}

/** Each good file carries one animal no other file names, so a search shows which file a hit came from. */
const GOOD_FILES: Record<string, string> = {
  'docs/guide.md': '# Guide\n\n## Install\n\nThe flamingo installer sets everything up in one step.\n',
  'docs/notes.txt': 'Field notes: a quokka was seen near the ferry terminal at dawn.\n',
  'docs/page.html':
    '<!doctype html><html><head><title>Arctic page</title></head><body><h1>Whales</h1>' +
    '<p>The narwhal has a long spiral tusk.</p></body></html>',
  'docs/table.csv':
    'name,description\nLake dweller,"The axolotl regrows its limbs and lives in lakes near Mexico City."\n',
  'docs/records.json': JSON.stringify([
    { title: 'Scaled mammal', body: 'The pangolin is covered in scales and eats ants at night.' },
  ]),
  'docs/events.jsonl':
    JSON.stringify({ name: 'Digger', text: 'The wombat digs long burrows under the eucalyptus trees.' }) +
    '\n',
  'docs/nested/deep.md': '# Deep\n\nA capybara relaxes in the warm spring water.\n',
};
const PDF_SOURCE = 'docs/report.pdf';
const GOOD_SOURCES = [...Object.keys(GOOD_FILES), PDF_SOURCE].sort();

describe('rivulet ingest and rivulet documents (the real CLI in a child process)', () => {
  let root: string;
  let workDir: string;
  let dataCount = 0;
  /** A DATA_DIR nobody has used yet, so each scenario starts from an empty database. */
  const freshDataDir = () => join(root, `data-${(dataCount += 1)}`);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'rivulet-cli-ingest-'));
    workDir = join(root, 'work');
    await mkdir(join(workDir, 'docs', 'nested'), { recursive: true });
    for (const [path, text] of Object.entries(GOOD_FILES)) await writeFile(join(workDir, path), text);
    await writeFile(join(workDir, PDF_SOURCE), await makePdf('The pelican nests on the lagoon island.'));
    await writeFile(
      join(workDir, 'docs/broken.pdf'),
      '%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage \x00\x01',
    );
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    await writeFile(join(workDir, 'docs/image.png'), png);
    await writeFile(join(workDir, 'notes.png'), png);
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  describe('a directory, ingested again, then with a changed file', () => {
    let dataDir: string;
    beforeAll(() => {
      dataDir = freshDataDir();
    });

    it(
      'adds every supported file, reports the corrupt PDF with its code and path, skips the png, exits 1',
      async () => {
        const run = await rivulet(['ingest', 'docs'], workDir, dataDir);
        expect(run.code).toBe(1);
        expect(run.stdout).toMatch(summaryLine('default', GOOD_SOURCES.length, 0, 0, 1));
        expect(run.stderr).toMatch(/DOCUMENT_UNREADABLE: docs\/broken\.pdf/);
        expect(run.stderr).not.toContain('image.png');
        expect(run.stderr).not.toMatch(/^\s+at /m);

        await withStores(dataDir, async (stores) => {
          const documents = await stores.documents.listDocuments('default', { limit: 1000 });
          expect(documents.map((d) => d.source).sort()).toEqual(GOOD_SOURCES);
          for (const document of documents) expect(document.chunkCount).toBeGreaterThan(0);
          const counts = await stores.documents.countDocuments('default');
          expect(counts.documents).toBe(GOOD_SOURCES.length);
        });
        const expected: Record<string, string> = {
          flamingo: 'docs/guide.md',
          quokka: 'docs/notes.txt',
          narwhal: 'docs/page.html',
          axolotl: 'docs/table.csv',
          pangolin: 'docs/records.json',
          wombat: 'docs/events.jsonl',
          capybara: 'docs/nested/deep.md',
          pelican: PDF_SOURCE,
        };
        for (const [word, source] of Object.entries(expected)) {
          expect(await searchSources(dataDir, 'default', word), word).toEqual([source]);
        }
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'leaves everything unchanged on a second run; exits 1 only while the broken PDF is there',
      async () => {
        const again = await rivulet(['ingest', 'docs'], workDir, dataDir);
        expect(again.code).toBe(1);
        expect(again.stdout).toMatch(summaryLine('default', 0, 0, GOOD_SOURCES.length, 1));
        expect(again.stderr).toContain('docs/broken.pdf');

        await unlink(join(workDir, 'docs/broken.pdf'));
        const clean = await rivulet(['ingest', 'docs'], workDir, dataDir);
        expect(clean.code).toBe(0);
        expect(clean.stdout).toMatch(summaryLine('default', 0, 0, GOOD_SOURCES.length, 0));
        expect(clean.stderr).toBe('');
        expect(await sourcesIn(dataDir, 'default')).toEqual(GOOD_SOURCES);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'replaces a changed file: 1 updated, the old text is gone and the new text is found',
      async () => {
        expect(await searchSources(dataDir, 'default', 'quokka')).toEqual(['docs/notes.txt']);
        await writeFile(
          join(workDir, 'docs/notes.txt'),
          'Field notes: a kookaburra laughed from the gum tree at dusk.\n',
        );
        const run = await rivulet(['ingest', 'docs'], workDir, dataDir);
        expect(run.code).toBe(0);
        expect(run.stdout).toMatch(summaryLine('default', 0, 1, GOOD_SOURCES.length - 1, 0));
        expect(await searchSources(dataDir, 'default', 'quokka')).toEqual([]);
        expect(await searchSources(dataDir, 'default', 'kookaburra')).toEqual(['docs/notes.txt']);
        expect(await sourcesIn(dataDir, 'default')).toEqual(GOOD_SOURCES);
      },
      TEST_TIMEOUT_MS,
    );
  });

  it(
    'takes a glob literally, says when a path matches nothing, and refuses an explicitly named png',
    async () => {
      const dataDir = freshDataDir();
      const glob = await rivulet(['ingest', 'docs/**/*.md'], workDir, dataDir);
      expect(glob.code).toBe(0);
      expect(glob.stdout).toMatch(summaryLine('default', 2, 0, 0, 0));
      expect(await sourcesIn(dataDir, 'default')).toEqual(['docs/guide.md', 'docs/nested/deep.md']);

      const nothing = await rivulet(['ingest', 'nowhere/*.md'], workDir, dataDir);
      expect(nothing.code).toBe(1);
      expect(nothing.stderr).toContain('No files match "nowhere/*.md".');
      const missing = await rivulet(['ingest', 'docs/notes.txt', 'no-such-file.txt'], workDir, dataDir);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('No files match "no-such-file.txt".');
      expect(missing.stdout).toMatch(summaryLine('default', 1, 0, 0, 0));

      const png = await rivulet(['ingest', 'notes.png'], workDir, dataDir);
      expect(png.code).toBe(1);
      expect(png.stdout).toMatch(summaryLine('default', 0, 0, 0, 1));
      expect(png.stderr).toMatch(/DOCUMENT_UNSUPPORTED_TYPE: notes\.png/);
      expect(await sourcesIn(dataDir, 'default')).toEqual([
        'docs/guide.md',
        'docs/nested/deep.md',
        'docs/notes.txt',
      ]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    '--collection ingests into another collection, which documents lists and deletes from',
    async () => {
      const dataDir = freshDataDir();
      const run = await rivulet(
        ['ingest', 'docs/guide.md', 'docs/page.html', '--collection', 'other'],
        workDir,
        dataDir,
      );
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(summaryLine('other', 2, 0, 0, 0));
      expect(await sourcesIn(dataDir, 'other')).toEqual(['docs/guide.md', 'docs/page.html']);
      expect(await sourcesIn(dataDir, 'default')).toEqual([]);
      expect(await searchSources(dataDir, 'other', 'narwhal')).toEqual(['docs/page.html']);
      expect(await searchSources(dataDir, 'default', 'narwhal')).toEqual([]);

      const list = await rivulet(['documents', '--collection', 'other'], workDir, dataDir);
      expect(list.code).toBe(0);
      expect(list.stdout).toMatch(/^\S+\s+\d+ chunks {2}docs\/guide\.md$/m);
      expect(list.stdout).toMatch(/^\S+\s+\d+ chunks {2}docs\/page\.html$/m);
      expect(list.stdout).toMatch(/^2 documents, \d+ chunks in "other"\.$/m);
      const defaultList = await rivulet(['documents'], workDir, dataDir);
      expect(defaultList.stdout).toMatch(/^0 documents, 0 chunks in "default"\.$/m);

      const deleted = await rivulet(
        ['documents', 'delete', 'docs/page.html', '--collection', 'other'],
        workDir,
        dataDir,
      );
      expect(deleted.code).toBe(0);
      expect(deleted.stdout).toMatch(/^Deleted docs\/page\.html \(\d+ chunks\)\.$/m);
      expect(await sourcesIn(dataDir, 'other')).toEqual(['docs/guide.md']);
      expect(await searchSources(dataDir, 'other', 'narwhal')).toEqual([]);

      const again = await rivulet(
        ['documents', 'delete', 'docs/page.html', '--collection', 'other'],
        workDir,
        dataDir,
      );
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('No document "docs/page.html" in "other".');
      expect(again.stderr).not.toMatch(/^\s+at /m);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'bad usage exits 2 with usage or the offending option, without a stack trace; --help exits 0',
    async () => {
      const dataDir = freshDataDir();
      const none = await rivulet(['ingest'], workDir, dataDir);
      expect(none.code).toBe(2);
      expect(none.stderr).toContain('Usage: rivulet ingest');
      expect(none.stdout).toBe('');

      const bogus = await rivulet(['ingest', '--bogus', 'docs'], workDir, dataDir);
      expect(bogus.code).toBe(2);
      expect(bogus.stderr).toContain('--bogus');
      expect(bogus.stderr).not.toMatch(/^\s+at /m);
      expect(bogus.stdout).toBe('');

      const help = await rivulet(['ingest', '--help'], workDir, dataDir);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('Usage: rivulet ingest');
      expect(help.stdout).toContain('--collection');
      expect(help.stderr).toBe('');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    '--text-fields and --title-field make a FAQ answer the chunk text and its question the heading',
    async () => {
      const dataDir = freshDataDir();
      const faq = [
        {
          id: 'faq-1',
          question: 'How do I reset my password?',
          answer:
            'Open the settings page, choose security and press the reset button beside the hedgehog icon.',
        },
        {
          id: 'faq-2',
          question: 'Can I export my data?',
          answer:
            'Yes: the export tab writes a zip archive that includes every conversation and the iguana log.',
        },
      ];
      await writeFile(join(workDir, 'faq.json'), JSON.stringify(faq, null, 2));
      const args = ['ingest', 'faq.json', '--collection', 'faq'];

      const plain = await rivulet(args, workDir, dataDir);
      expect(plain.code).toBe(0);
      expect(plain.stdout).toMatch(summaryLine('faq', 1, 0, 0, 0));

      // Other fields shape other chunks, so the same bytes count as changed.
      const run = await rivulet(
        [...args, '--text-fields', 'answer', '--title-field', 'question'],
        workDir,
        dataDir,
      );
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(summaryLine('faq', 0, 1, 0, 0));

      await withStores(dataDir, async (stores) => {
        for (const [word, record] of [
          ['hedgehog', faq[0]!],
          ['iguana', faq[1]!],
        ] as const) {
          const [hit] = await stores.documents.searchText('faq', word, 5);
          expect(hit?.source).toBe('faq.json');
          expect(hit?.heading).toBe(record.question);
          expect(hit?.text).toBe(record.answer);
        }
      });
    },
    TEST_TIMEOUT_MS,
  );
});
