// Property-based fuzz test of uploads (fast-check): decompression bombs generated per case (DOCX with one or many
// XML parts, honest or lying zip directories, a byte flipped here and there; PDF Flate bombs, plain or disguised as
// images; CSV and JSON wider than allowed) of random content and size, uploaded over real HTTP beside a good file.
// Per case: the bomb gets a documented refusal code (the exact one when the file is intact and not disguised), the
// good file still goes in, /healthz answers all through the upload, and the server is up afterwards.
//
// CI runs a fixed seed and a few cases. A longer run (a failure prints the seed and path to replay):
//   FUZZ_RUNS=200 FUZZ_SEED=$RANDOM npx vitest run test/integration/fuzz-uploads.test.ts

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestSummary } from '../../src/retrieval/ingest.ts';
import { docxBomb, pdfFlateBomb, wideCsv, wordParagraph } from '../helpers/bombs.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261212);
const RUNS = Number(process.env.FUZZ_RUNS ?? 10);
const PROPERTY_TIMEOUT_MS = Math.max(120_000, RUNS * 15_000);
/** A health check slower than this while a file parses means the event loop was blocked (it answers in ms). */
const HEALTH_BOUND_MS = 5_000;

/** Every refusal a hostile document may get; anything else (INTERNAL above all) is a bug. */
const REFUSALS = new Set([
  'DOCUMENT_EXPANDS_TOO_BIG',
  'DOCUMENT_TOO_COMPLEX',
  'DOCUMENT_TOO_MANY_CHUNKS',
  'DOCUMENT_PARSE_TIMEOUT',
  'DOCUMENT_UNREADABLE',
  'DOCUMENT_EMPTY',
]);

type Bomb =
  | {
      kind: 'docx';
      mib: number;
      declared: number | undefined;
      parts: number;
      word: string;
      flip: number | undefined;
    }
  | { kind: 'docx-parts'; mib: number; parts: number; word: string }
  | { kind: 'pdf'; mib: number; disguised: boolean; word: string; flip: number | undefined }
  | { kind: 'csv'; columns: number }
  | { kind: 'json'; fields: number };

const word = fc.stringMatching(/^[a-z]{1,12}$/);
const flip = fc.option(fc.nat(), { nil: undefined });
const bombs: fc.Arbitrary<Bomb> = fc.oneof(
  fc.record({
    kind: fc.constant('docx' as const),
    mib: fc.integer({ min: 33, max: 800 }),
    declared: fc.option(fc.oneof(fc.nat(), fc.constant(0xffffffff)), { nil: undefined }),
    parts: fc.integer({ min: 0, max: 3 }),
    word,
    flip,
  }),
  // Parts each under the cap whose sum is over it.
  fc.record({
    kind: fc.constant('docx-parts' as const),
    mib: fc.integer({ min: 9, max: 31 }),
    parts: fc.integer({ min: 3, max: 8 }),
    word,
  }),
  fc.record({
    kind: fc.constant('pdf' as const),
    mib: fc.integer({ min: 33, max: 800 }),
    disguised: fc.boolean(),
    word,
    flip,
  }),
  fc.record({ kind: fc.constant('csv' as const), columns: fc.integer({ min: 2001, max: 150_000 }) }),
  fc.record({ kind: fc.constant('json' as const), fields: fc.integer({ min: 2001, max: 50_000 }) }),
);

/** The file, its name, and the one code it must get (undefined: any documented refusal). */
function build(bomb: Bomb): { name: string; bytes: Uint8Array; code: string | undefined } {
  const sentence = `${bomb.kind === 'csv' || bomb.kind === 'json' ? '' : bomb.word} all work and no play`;
  switch (bomb.kind) {
    case 'docx': {
      const bytes = docxBomb({
        inflatedMiB: bomb.mib,
        paragraph: wordParagraph(sentence),
        extraParts: bomb.parts,
        ...(bomb.declared === undefined ? {} : { declaredSize: bomb.declared }),
      });
      return { name: 'bomb.docx', ...flipped(bytes, bomb.flip, 'DOCUMENT_EXPANDS_TOO_BIG') };
    }
    case 'docx-parts':
      return {
        name: 'parts.docx',
        bytes: docxBomb({
          inflatedMiB: bomb.mib,
          paragraph: wordParagraph(sentence),
          extraParts: bomb.parts,
        }),
        code: 'DOCUMENT_EXPANDS_TOO_BIG',
      };
    case 'pdf': {
      const bytes = pdfFlateBomb({ inflatedMiB: bomb.mib, line: sentence, disguised: bomb.disguised });
      // Disguised as an image, a bomb under the image allowance reaches pdf.js: the text or time limit stops it.
      const code = bomb.disguised ? undefined : 'DOCUMENT_EXPANDS_TOO_BIG';
      return { name: 'bomb.pdf', ...flipped(bytes, bomb.flip, code) };
    }
    case 'csv':
      return { name: 'wide.csv', bytes: wideCsv(bomb.columns), code: 'DOCUMENT_TOO_COMPLEX' };
    case 'json': {
      const record = Object.fromEntries(Array.from({ length: bomb.fields }, (_, i) => [`f${i}`, 'x']));
      return {
        name: 'wide.json',
        bytes: Buffer.from(JSON.stringify([record])),
        code: 'DOCUMENT_TOO_COMPLEX',
      };
    }
  }
}

/** One byte inverted at `at` (modulo the size): any documented refusal will do then. */
function flipped(
  bytes: Uint8Array,
  at: number | undefined,
  code: string | undefined,
): { bytes: Uint8Array; code: string | undefined } {
  if (at === undefined) return { bytes, code };
  const copy = new Uint8Array(bytes);
  copy[at % copy.length]! ^= 0xff;
  return { bytes: copy, code: undefined };
}

describe('fuzz: decompression bombs and wide records over real HTTP', () => {
  let server: TestServer;
  beforeAll(async () => {
    // Fewer chunks and a shorter clock than the defaults keep a disguised PDF's run short; the caps are the defaults.
    server = await startTestServer({ DOCUMENT_MAX_CHUNKS: '1000', DOCUMENT_PARSE_TIMEOUT_MS: '10000' });
  });
  afterAll(async () => {
    await server.close();
  });

  it(
    'refuses every bomb with a documented code, ingests the good file beside it, and answers /healthz throughout',
    async () => {
      let round = 0;
      await fc.assert(
        fc.asyncProperty(bombs, async (bomb) => {
          round += 1;
          const { name, bytes, code } = build(bomb);
          const good = `good-${round}.md`;
          const form = new FormData();
          form.append('file', new Blob([new Uint8Array(bytes)]), name);
          form.append('file', new Blob([`# Good ${round}\n\nA wombat digs burrows at night.`]), good);
          let uploading = true;
          const uploaded = fetch(`${server.url}/api/documents`, { method: 'POST', body: form }).then(
            async (response) => ({ status: response.status, body: (await response.json()) as IngestSummary }),
          );
          void uploaded.finally(() => (uploading = false));
          // Health checks one after another for as long as the upload runs.
          let slowest = 0;
          let checks = 0;
          const health = (async () => {
            while (uploading) {
              const started = performance.now();
              const response = await fetch(`${server.url}/healthz`);
              await response.body?.cancel();
              expect(response.status).toBe(200);
              slowest = Math.max(slowest, performance.now() - started);
              checks += 1;
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
          })();
          const { status, body } = await uploaded;
          await health;
          expect(status).toBe(200);
          const [refused, added] = body.results;
          expect(refused?.source).toBe(name);
          expect(refused?.status).toBe('failed');
          expect(REFUSALS).toContain(refused?.error?.code);
          if (code !== undefined) expect(refused?.error?.code).toBe(code);
          expect(refused?.error?.message).toContain(name);
          expect(added).toMatchObject({ source: good, status: 'added' });
          expect(checks).toBeGreaterThan(0);
          expect(slowest).toBeLessThan(HEALTH_BOUND_MS);
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
      const after = await fetch(`${server.url}/healthz`);
      expect(after.status).toBe(200);
    },
    PROPERTY_TIMEOUT_MS,
  );
});
