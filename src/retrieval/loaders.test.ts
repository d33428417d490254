// Loader tests: every input file is generated here (pdf-lib, docx, strings) and checked for what a user would notice.
import { Document, HeadingLevel, Packer, Paragraph, TextRun } from 'docx';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RivuletError, type ErrorCode } from '../core/errors.ts';
import { docxBomb, pdfFlateBomb, smallDocx, smallPdf, wideCsv } from '../../test/helpers/bombs.ts';
import { loadDocument, mediaTypeFor, SUPPORTED_EXTENSIONS } from './loaders.ts';
import type { ParsedDocument } from './parsed-document.ts';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

async function makePdf(pages: string[][], title?: string): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  if (title) pdf.setTitle(title);
  pdf.setAuthor('Ada Lovelace');
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  for (const lines of pages) {
    const page = pdf.addPage();
    lines.forEach((line, i) => page.drawText(line, { x: 50, y: 700 - i * 20, size: 12, font }));
  }
  return pdf.save();
}

async function makeDocx(): Promise<Uint8Array> {
  const doc = new Document({
    title: 'Employee Handbook',
    creator: 'HR Team',
    sections: [
      {
        children: [
          new Paragraph({ text: 'Onboarding', heading: HeadingLevel.HEADING_1 }),
          new Paragraph({
            children: [
              new TextRun('New hires get a buddy '),
              new TextRun({ text: 'on day one.', bold: true }),
            ],
          }),
          new Paragraph({ text: 'Laptops', heading: HeadingLevel.HEADING_2 }),
          new Paragraph('Laptops are issued by IT within a week.'),
          new Paragraph({ text: 'Leave', heading: HeadingLevel.HEADING_1 }),
          new Paragraph('Everyone has 25 days of paid leave.'),
        ],
      },
    ],
  });
  return new Uint8Array(await Packer.toBuffer(doc));
}

async function failure(promise: Promise<unknown>): Promise<RivuletError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RivuletError);
  return error as RivuletError;
}

async function expectCode(
  promise: Promise<unknown>,
  code: ErrorCode,
  fileName: string,
): Promise<RivuletError> {
  const error = await failure(promise);
  expect(error.code).toBe(code);
  expect(error.message).toContain(fileName);
  expect(error.message).not.toMatch(/\n\s+at /); // no stack
  return error;
}

const headings = (doc: ParsedDocument): string[] => doc.sections.map((s) => s.heading.join(' > '));
const allText = (doc: ParsedDocument): string => doc.sections.map((s) => s.text).join('\n\n');

describe('loadDocument: PDF', () => {
  afterEach(() => vi.restoreAllMocks());

  it('keeps text per page with the page number, and the metadata title', async () => {
    const bytes = await makePdf(
      [['Revenue grew by 12 percent.', 'Costs stayed flat.'], ['Outlook for next year is stable.']],
      'Quarterly Report',
    );
    const doc = await loadDocument(bytes, 'reports/q3.pdf');
    expect(doc.title).toBe('Quarterly Report');
    expect(doc.mediaType).toBe('application/pdf');
    expect(doc.sections).toHaveLength(2);
    expect(doc.sections[0]).toMatchObject({ metadata: { page: 1 } });
    expect(doc.sections[0]!.text).toContain('Revenue grew by 12 percent.');
    expect(doc.sections[0]!.text).toContain('Costs stayed flat.');
    expect(doc.sections[1]).toMatchObject({ metadata: { page: 2 } });
    expect(doc.sections[1]!.text).toContain('Outlook for next year is stable.');
    expect(doc.metadata).toMatchObject({ pages: 2, author: 'Ada Lovelace' });
  });

  it('falls back to the file name as title (read as words), and leaves the caller’s bytes usable', async () => {
    const bytes = await makePdf([['Just one page.']]);
    const copy = bytes.slice();
    const doc = await loadDocument(bytes, 'release-notes.pdf');
    expect(doc.title).toBe('Release notes');
    expect(bytes).toEqual(copy);
  });

  it('refuses garbage and truncated PDFs as unreadable without printing pdf.js warnings', async () => {
    const output = [
      vi.spyOn(process.stdout, 'write'),
      vi.spyOn(process.stderr, 'write'),
      vi.spyOn(console, 'log'),
      vi.spyOn(console, 'warn'),
    ];
    const valid = await makePdf([['Hello there.']], 'T');
    const garbage = utf8('%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage garbage');
    const bad = await expectCode(loadDocument(garbage, 'broken.pdf'), 'DOCUMENT_UNREADABLE', 'broken.pdf');
    expect(bad.message).toMatch(/damaged|not a readable PDF/);
    await expectCode(loadDocument(valid.slice(0, 400), 'cut.pdf'), 'DOCUMENT_UNREADABLE', 'cut.pdf');
    await expectCode(loadDocument(utf8('hello'), 'fake.pdf'), 'DOCUMENT_UNREADABLE', 'fake.pdf');
    for (const spy of output) expect(spy).not.toHaveBeenCalled();
  });

  it('survives corrupted PDFs: each load resolves or fails with a coded error', async () => {
    const valid = await makePdf([['Some text on a page.'], ['More text.']], 'Fuzz');
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * valid.length;
    for (let round = 0; round < 20; round++) {
      const bytes = valid.slice();
      for (let k = 0; k < 30; k++) bytes[Math.floor(random())] = Math.floor(random()) % 256;
      await loadDocument(bytes, `fuzz-${round}.pdf`).catch((error: unknown) => {
        expect(error).toBeInstanceOf(RivuletError);
      });
    }
  });
});

describe('loadDocument: DOCX', () => {
  it('keeps Word headings as the heading path and the document title', async () => {
    const doc = await loadDocument(await makeDocx(), 'handbook.docx');
    expect(doc.title).toBe('Employee Handbook');
    expect(doc.metadata).toMatchObject({ author: 'HR Team' });
    expect(headings(doc)).toEqual(['Onboarding', 'Onboarding > Laptops', 'Leave']);
    expect(doc.sections[0]!.text).toBe('New hires get a buddy on day one.');
    expect(doc.sections[1]!.text).toBe('Laptops are issued by IT within a week.');
  });

  it('refuses a .docx that is not a zip, or a zip that is not Word', async () => {
    const error = await expectCode(
      loadDocument(utf8('just some text'), 'memo.docx'),
      'DOCUMENT_UNREADABLE',
      'memo.docx',
    );
    expect(error.message).toContain('not a zip');
    const docx = await makeDocx();
    await expectCode(loadDocument(docx.slice(0, 300), 'cut.docx'), 'DOCUMENT_UNREADABLE', 'cut.docx');
  });
});

describe('loadDocument: hostile input', () => {
  it('gives up quickly on absurd nesting instead of hanging or crashing', async () => {
    const started = Date.now();
    const deepList = Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i * 2)}- item ${i}`).join('\n');
    const listDoc = await loadDocument(utf8(deepList), 'deep.md');
    expect(allText(listDoc)).toContain('item 2999');
    await expectCode(
      loadDocument(utf8('>'.repeat(100_000) + ' hi'), 'quotes.md'),
      'DOCUMENT_UNREADABLE',
      'quotes.md',
    );
    const divs = await expectCode(
      loadDocument(utf8('<div>'.repeat(200_000) + 'deep'), 'divs.html'),
      'DOCUMENT_UNREADABLE',
      'divs.html',
    );
    expect(divs.message).toContain('deep');
    await expectCode(
      loadDocument(utf8('{"a":'.repeat(5000) + '1' + '}'.repeat(5000)), 'deep.json'),
      'DOCUMENT_EMPTY',
      'deep.json',
    );
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('never trusts the sizes a zip declares: a small .docx declaring 4 GiB loads, bombs stop at the inflated cap', async () => {
    const bytes = await makeDocx();
    const central = Buffer.from(bytes).indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    bytes.set([0xff, 0xff, 0xff, 0xff], central + 24); // uncompressed size of the first entry: 4 GiB
    expect((await loadDocument(bytes, 'honest.docx')).title).toBe('Employee Handbook');

    const limits = { maxExpandedBytes: 4 * 1024 * 1024, maxTextChars: 10_000_000 };
    const started = Date.now();
    const bomb = await expectCode(
      loadDocument(docxBomb({ inflatedMiB: 50 }), 'bomb.docx', {}, limits),
      'DOCUMENT_EXPANDS_TOO_BIG',
      'bomb.docx',
    );
    expect(bomb.message).toContain('4 MB');
    // The directory says 1,000 bytes; the entry inflates to 1.5 GB: counting what zlib produces stops it at 4 MB.
    await expectCode(
      loadDocument(docxBomb({ inflatedMiB: 1500, declaredSize: 1000 }), 'liar.docx', {}, limits),
      'DOCUMENT_EXPANDS_TOO_BIG',
      'liar.docx',
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    // The same writer's small document is fine, so the bombs fail for their size only.
    const small = await loadDocument(smallDocx(['One paragraph.', 'Another one.']), 'small.docx', {}, limits);
    expect(allText(small)).toContain('Another one.');
  });

  it('refuses a PDF whose Flate streams inflate past the cap, and stops at the text a document may hold', async () => {
    const limits = { maxExpandedBytes: 4 * 1024 * 1024, maxTextChars: 10_000 };
    await expectCode(
      loadDocument(pdfFlateBomb({ inflatedMiB: 200 }), 'bomb.pdf', {}, limits),
      'DOCUMENT_EXPANDS_TOO_BIG',
      'bomb.pdf',
    );
    await expectCode(
      loadDocument(pdfFlateBomb({ inflatedMiB: 1 }), 'wordy.pdf', {}, limits),
      'DOCUMENT_TOO_MANY_CHUNKS',
      'wordy.pdf',
    );
    expect(allText(await loadDocument(smallPdf('Plain words.'), 'plain.pdf', {}, limits))).toBe(
      'Plain words.',
    );
  });

  it('reads a 100,000-column CSV as too complex at once, and wide tables within the cap in linear time', async () => {
    const wide = await expectCode(
      loadDocument(wideCsv(100_000), 'wide.csv'),
      'DOCUMENT_TOO_COMPLEX',
      'wide.csv',
    );
    expect(wide.message).toContain('2000 columns');
    const fields = Object.fromEntries(Array.from({ length: 2001 }, (_, i) => [`f${i}`, 'x']));
    await expectCode(
      loadDocument(utf8(JSON.stringify([fields])), 'wide.json'),
      'DOCUMENT_TOO_COMPLEX',
      'wide.json',
    );
    const started = Date.now();
    const table = await loadDocument(wideCsv(2000, 20), 'table.csv');
    expect(table.sections).toHaveLength(20);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('loadDocument: records', () => {
  const rows = [
    {
      id: 'A-1',
      title: 'Reset a password',
      body: 'Open the settings page, choose Security and click Reset password to get an email.',
      url: 'https://help.example.com/a1',
      views: 120,
    },
    {
      id: 'A-2',
      title: 'Export invoices',
      body: 'Invoices can be exported as CSV from the Billing tab, one file per calendar month.',
      url: 'https://help.example.com/a2',
      views: 45,
    },
  ];

  it('CSV: one section per row, title-like field as heading, the prose field as text, the rest as metadata', async () => {
    const csv = [
      'id,title,body,url,views',
      ...rows.map((r) => `${r.id},${r.title},"${r.body}",${r.url},${r.views}`),
    ].join('\r\n');
    const doc = await loadDocument(utf8(csv), 'faq.csv');
    expect(doc.mediaType).toBe('text/csv');
    expect(headings(doc)).toEqual(['Reset a password', 'Export invoices']);
    expect(doc.sections[0]!.text).toBe(rows[0]!.body);
    expect(doc.sections[0]!.metadata).toEqual({ record: 1, id: 'A-1', url: rows[0]!.url, views: '120' });
    expect(doc.metadata).toMatchObject({ textFields: ['body'], titleField: 'title', records: 2 });
  });

  it('CSV: semicolon-delimited files and short-field tables still give readable text', async () => {
    const doc = await loadDocument(utf8('name;colour;size\nShirt;blue;M\nHat;red;L\n'), 'stock.csv');
    expect(headings(doc)).toEqual(['Shirt', 'Hat']);
    expect(doc.sections[0]!.text).toBe('colour: blue\nsize: M');
  });

  it('JSON array and JSON Lines give the same sections; numbers stay numbers in metadata', async () => {
    const fromArray = await loadDocument(utf8(JSON.stringify(rows)), 'faq.json');
    const fromLines = await loadDocument(
      utf8(rows.map((r) => JSON.stringify(r)).join('\n') + '\n'),
      'faq.jsonl',
    );
    expect(fromArray.sections).toEqual(fromLines.sections);
    expect(fromArray.sections[1]).toEqual({
      heading: ['Export invoices'],
      text: rows[1]!.body,
      metadata: { record: 2, id: 'A-2', url: rows[1]!.url, views: 45 },
    });
    expect(fromLines.mediaType).toBe('application/jsonl');
  });

  it('JSON: an object wrapping one array of records lends its title; options choose text and title fields', async () => {
    const wrapped = { title: 'Help Center', version: 3, articles: rows };
    const doc = await loadDocument(utf8(JSON.stringify(wrapped)), 'export.json');
    expect(doc.title).toBe('Help Center');
    expect(doc.metadata).toMatchObject({ version: 3, recordsField: 'articles' });
    expect(doc.sections).toHaveLength(2);

    const chosen = await loadDocument(utf8(JSON.stringify(rows)), 'faq.json', {
      textFields: ['title', 'body'],
      titleField: 'id',
    });
    expect(chosen.sections[0]!.heading).toEqual(['A-1']);
    expect(chosen.sections[0]!.text).toBe(`title: ${rows[0]!.title}\nbody: ${rows[0]!.body}`);
  });

  it('JSON: a single object is one record; nested fields are flattened', async () => {
    const doc = await loadDocument(
      utf8(
        JSON.stringify({
          name: 'Rivulet',
          about: { summary: 'A server that streams grounded answers to apps.' },
        }),
      ),
      'project.json',
    );
    expect(doc.sections).toEqual([
      {
        heading: ['Rivulet'],
        text: 'A server that streams grounded answers to apps.',
        metadata: { record: 1 },
      },
    ]);
  });

  it('reports invalid JSON with its position, and the bad line of JSON Lines', async () => {
    const json = await expectCode(
      loadDocument(utf8('{\n "a": 1,\n}'), 'bad.json'),
      'DOCUMENT_UNREADABLE',
      'bad.json',
    );
    expect(json.message).toMatch(/^bad\.json: not valid JSON/);
    const lines = await expectCode(
      loadDocument(utf8('{"a": "x"}\n{"a": "y"}\n{"a": oops}\n'), 'bad.jsonl'),
      'DOCUMENT_UNREADABLE',
      'bad.jsonl',
    );
    expect(lines.message).toBe('bad.jsonl: line 3 is not valid JSON');
  });

  it('reports records without text as empty', async () => {
    await expectCode(loadDocument(utf8('[]'), 'none.json'), 'DOCUMENT_EMPTY', 'none.json');
    await expectCode(loadDocument(utf8('id,count\n1,2\n'), 'numbers.csv'), 'DOCUMENT_EMPTY', 'numbers.csv');
    await expectCode(
      loadDocument(utf8(JSON.stringify(rows)), 'faq.json', { textFields: ['missing'] }),
      'DOCUMENT_EMPTY',
      'faq.json',
    );
  });
});

describe('loadDocument: HTML', () => {
  const html = `<!doctype html><html><head><title>Install Guide</title>
    <style>body { color: red }</style><script>var secret = "tracking";</script></head>
    <body><nav><a href="/">Home</a> | <a href="/docs">Docs navigation</a></nav>
    <h1>Installing</h1><p>Download the   archive &amp; unpack it.</p>
    <h2>Linux</h2><p>Run <code>make install</code>.</p><ul><li>Needs gcc</li><li>Needs make</li></ul>
    <table><tr><th>OS</th><th>Version</th></tr><tr><td>Debian</td><td>12</td></tr></table>
    <pre>line one
  indented line two</pre>
    <div hidden>Hidden text</div>
    <h2>Windows</h2><p>Use the installer.</p>
    <footer>Copyright footer</footer><script>track()</script></body></html>`;

  it('builds heading paths, keeps paragraphs, lists, tables and pre text, and drops the noise', async () => {
    const doc = await loadDocument(utf8(html), 'install.html');
    expect(doc.title).toBe('Install Guide');
    expect(doc.mediaType).toBe('text/html');
    expect(headings(doc)).toEqual(['Installing', 'Installing > Linux', 'Installing > Windows']);
    expect(doc.sections[0]!.text).toBe('Download the archive & unpack it.');
    expect(doc.sections[1]!.text).toBe(
      'Run make install.\n\n- Needs gcc\n- Needs make\nOS | Version\nDebian | 12\n\nline one\n  indented line two',
    );
    const text = allText(doc);
    for (const noise of [
      'color: red',
      'tracking',
      'Docs navigation',
      'Copyright footer',
      'Hidden text',
      'track()',
    ]) {
      expect(text).not.toContain(noise);
    }
  });

  it('uses the first h1 as title when there is no <title>', async () => {
    const doc = await loadDocument(utf8('<h2>Intro</h2><p>x</p><h1>Real Title</h1><p>y</p>'), 'page.htm');
    expect(doc.title).toBe('Real Title');
  });
});

describe('loadDocument: Markdown and text', () => {
  const markdown = [
    '---',
    'title: The Guide',
    'author: Sam',
    '---',
    '# Guide',
    '',
    'Welcome to **Rivulet** &amp; friends. See [the docs](https://example.com).',
    '',
    '## Install',
    '',
    '- Download it',
    '- Unpack it',
    '  1. nested step',
    '',
    '```sh',
    'npm install',
    '',
    'npm start',
    '```',
    '',
    '### Linux',
    '',
    '| Distro | Package |',
    '| ------ | ------- |',
    '| Debian | `rivulet` |',
    '',
    '> A quoted tip.',
  ].join('\n');

  it('builds heading paths and keeps lists, code, tables and quotes as plain text', async () => {
    const doc = await loadDocument(utf8(markdown), 'guide.md');
    expect(doc.title).toBe('The Guide');
    expect(doc.metadata).toMatchObject({ title: 'The Guide', author: 'Sam' });
    expect(doc.mediaType).toBe('text/markdown');
    expect(headings(doc)).toEqual(['Guide', 'Guide > Install', 'Guide > Install > Linux']);
    expect(doc.sections[0]!.text).toBe('Welcome to Rivulet & friends. See the docs.');
    expect(doc.sections[1]!.text).toBe(
      '- Download it\n- Unpack it\n  1. nested step\n\nnpm install\n\nnpm start',
    );
    expect(doc.sections[2]!.text).toBe('Distro | Package\nDebian | rivulet\n\nA quoted tip.');
  });

  it('takes the first heading as title without front matter', async () => {
    const doc = await loadDocument(utf8('Intro text.\n\n# Title Here\n\nBody.'), 'x.markdown');
    expect(doc.title).toBe('Title Here');
    expect(headings(doc)).toEqual(['', 'Title Here']);
  });

  it('reads text as paragraphs, dropping a BOM and CRLF line endings', async () => {
    const bytes = new Uint8Array([
      0xef,
      0xbb,
      0xbf,
      ...utf8('First  paragraph\r\nstill first.\r\n\r\n\r\n\r\nSecond.'),
    ]);
    const doc = await loadDocument(bytes, 'notes.txt');
    expect(doc).toEqual({
      title: 'Notes',
      mediaType: 'text/plain',
      sections: [{ heading: [], text: 'First paragraph\nstill first.\n\nSecond.' }],
      metadata: {},
    });
  });

  it('refuses invalid UTF-8 and binary content as unreadable', async () => {
    const invalid = new Uint8Array([0x68, 0x69, 0xff, 0xfe, 0x20]);
    const error = await expectCode(loadDocument(invalid, 'bad.txt'), 'DOCUMENT_UNREADABLE', 'bad.txt');
    expect(error.message).toBe('bad.txt: not valid UTF-8 text');
    await expectCode(
      loadDocument(new Uint8Array([0x61, 0, 0x62]), 'bin.md'),
      'DOCUMENT_UNREADABLE',
      'bin.md',
    );
  });

  it('reads UTF-16 text with a byte order mark', async () => {
    const text = 'Grüße aus Köln';
    const bytes = new Uint8Array([
      0xff,
      0xfe,
      ...new Uint8Array(Uint16Array.from(text, (c) => c.charCodeAt(0)).buffer),
    ]);
    expect((await loadDocument(bytes, 'de.txt')).sections[0]!.text).toBe(text);
  });
});

describe('loadDocument: types and empty files', () => {
  afterEach(() => vi.restoreAllMocks());

  it('refuses unknown extensions with the supported list', async () => {
    const error = await expectCode(
      loadDocument(utf8('x'), 'photo.xyz'),
      'DOCUMENT_UNSUPPORTED_TYPE',
      'photo.xyz',
    );
    expect(error.message).toContain('".xyz"');
    expect(error.message).toContain('docx');
    await expectCode(loadDocument(new Uint8Array([0, 1, 2, 3]), 'blob'), 'DOCUMENT_UNSUPPORTED_TYPE', 'blob');
  });

  it('sniffs PDF, DOCX and text when the name has no (known) extension', async () => {
    expect((await loadDocument(await makePdf([['Sniffed.']]), 'download')).mediaType).toBe('application/pdf');
    expect((await loadDocument(await makePdf([['Sniffed.']]), 'scan.bin')).mediaType).toBe('application/pdf');
    expect((await loadDocument(await makeDocx(), 'upload')).title).toBe('Employee Handbook');
    expect((await loadDocument(utf8('[{"text": "hello"}]'), 'data')).mediaType).toBe('application/json');
    expect((await loadDocument(utf8('# Readme\n\nHi.'), 'README')).mediaType).toBe('text/markdown');
    expect((await loadDocument(utf8('plain words'), 'LICENSE')).mediaType).toBe('text/plain');
  });

  it('reports empty and whitespace-only files as empty', async () => {
    for (const name of ['empty.txt', 'empty.pdf', 'empty.docx', 'empty.csv', 'empty.json', 'empty']) {
      await expectCode(loadDocument(new Uint8Array(), name), 'DOCUMENT_EMPTY', name);
    }
    await expectCode(loadDocument(utf8('  \n\n \t\n'), 'blank.txt'), 'DOCUMENT_EMPTY', 'blank.txt');
    await expectCode(
      loadDocument(utf8('<script>x()</script>'), 'noise.html'),
      'DOCUMENT_EMPTY',
      'noise.html',
    );
    await expectCode(loadDocument(await makePdf([[]]), 'scan.pdf'), 'DOCUMENT_EMPTY', 'scan.pdf');
  });

  it('maps extensions to media types', () => {
    expect(SUPPORTED_EXTENSIONS).toEqual(
      expect.arrayContaining(['txt', 'md', 'html', 'json', 'jsonl', 'ndjson', 'csv', 'pdf', 'docx']),
    );
    expect(mediaTypeFor('a/b/Guide.MD')).toBe('text/markdown');
    expect(mediaTypeFor('x.docx')).toBe(
      'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    );
    expect(mediaTypeFor('x.exe')).toBeUndefined();
    expect(mediaTypeFor('constructor')).toBeUndefined();
  });
});
