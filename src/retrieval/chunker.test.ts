// Chunker tests: bounded sizes, overlap, section boundaries, Unicode safety, and a property check that the chunks
// minus their overlaps give back every word of the section.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunkDocument, chunkText } from './chunker.ts';
import type { ParsedDocument, ParsedSection } from './parsed-document.ts';

const doc = (...sections: ParsedSection[]): ParsedDocument => ({
  title: 'Doc',
  mediaType: 'text/plain',
  sections,
  metadata: {},
});

const sentence = (i: number): string => `Sentence number ${i} talks about topic ${i % 7} in some detail.`;
const paragraph = (from: number, count: number): string =>
  Array.from({ length: count }, (_, k) => sentence(from + k)).join(' ');

/** Chunk i without the longest prefix that is also a suffix of chunk i - 1. */
function withoutOverlap(chunks: string[]): string[] {
  return chunks.map((chunk, i) => {
    if (i === 0) return chunk;
    const previous = chunks[i - 1]!;
    for (let k = Math.min(chunk.length, previous.length); k > 0; k--) {
      if (previous.endsWith(chunk.slice(0, k))) return chunk.slice(k);
    }
    return chunk;
  });
}

const wordsOf = (text: string): string[] => text.split(/\s+/).filter(Boolean);

describe('chunkDocument', () => {
  it('keeps a short section whole, with its heading path and metadata, ordinals from 0', () => {
    const chunks = chunkDocument(
      doc(
        { heading: ['Guide', 'Install'], text: 'Run the installer.' },
        { heading: [], text: 'Row text.', metadata: { page: 2 } },
      ),
    );
    expect(chunks).toEqual([
      { ordinal: 0, text: 'Run the installer.', heading: 'Guide > Install' },
      { ordinal: 1, text: 'Row text.', heading: '', metadata: { page: 2 } },
    ]);
  });

  it('never mixes sections, even small ones', () => {
    const chunks = chunkDocument(
      doc(
        { heading: ['A'], text: 'Alpha.' },
        { heading: ['B'], text: paragraph(0, 60) },
        { heading: ['C'], text: 'Gamma.' },
      ),
      { maxChars: 300, overlapChars: 50 },
    );
    expect(chunks[0]).toMatchObject({ heading: 'A', text: 'Alpha.' });
    expect(chunks.at(-1)).toMatchObject({ heading: 'C', text: 'Gamma.' });
    const middle = chunks.slice(1, -1);
    expect(middle.length).toBeGreaterThan(5);
    for (const chunk of middle) {
      expect(chunk.heading).toBe('B');
      expect(chunk.text).not.toMatch(/Alpha|Gamma/);
    }
    expect(chunks.map((c) => c.ordinal)).toEqual(chunks.map((_, i) => i));
  });

  it('bounds sizes, cuts at paragraph breaks when it can, and overlaps from a sentence start', () => {
    const text = [paragraph(0, 8), paragraph(8, 8), paragraph(16, 8), paragraph(24, 8)].join('\n\n');
    const chunks = chunkText(text, 800, 150);
    expect(chunks.length).toBeGreaterThan(2);
    for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(800);
    // Every chunk ends at the end of a paragraph (each paragraph is ~470 characters, so two never fit with overlap).
    for (const chunk of chunks) expect(text.slice(text.indexOf(chunk) + chunk.length)).toMatch(/^(\n\n|$)/);
    for (let i = 1; i < chunks.length; i++) {
      expect(chunks[i]).toMatch(/^Sentence number \d+ /);
      const overlap = withoutOverlap(chunks)[i]!;
      expect(chunks[i]!.length - overlap.length).toBeGreaterThan(30);
      expect(chunks[i]!.length - overlap.length).toBeLessThanOrEqual(150 + 2);
    }
  });

  it('splits a long paragraph between sentences, and a sentence without spaces between words', () => {
    const chunks = chunkText(paragraph(0, 40), 500, 100);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(500);
      expect(chunk).toMatch(/\.$/);
    }
    const longWord = 'x'.repeat(1000);
    const pieces = chunkText(`before ${longWord} after`, 300, 0);
    expect(pieces.every((p) => p.length <= 300)).toBe(true);
    expect(pieces.join('').replaceAll(/\s/g, '')).toBe(`before${longWord}after`);
  });

  it('never breaks emoji, surrogate pairs or CJK words', () => {
    const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });
    const emoji = ['👩‍👩‍👧‍👦', '🇯🇵', '😀'];
    for (const chunk of chunkText(emoji.join('').repeat(80), 50, 10)) {
      expect(chunk.length).toBeLessThanOrEqual(50);
      for (const { segment } of graphemes.segment(chunk)) expect(emoji).toContain(segment);
    }
    const words = new Intl.Segmenter('zh', { granularity: 'word' });
    const wordsIn = (text: string): string[] =>
      Array.from(words.segment(text))
        .filter((s) => s.isWordLike)
        .map((s) => s.segment);
    const cjk = '我们在北京学习中文，每天都去图书馆看书。'.repeat(30);
    const vocabulary = new Set(wordsIn(cjk));
    const chunks = chunkText(cjk, 100, 20);
    expect(chunks.length).toBeGreaterThan(6);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(100);
      for (const word of wordsIn(chunk)) expect(vocabulary).toContain(word);
    }
  });

  it('is deterministic', () => {
    const input = doc({ heading: ['X'], text: [paragraph(0, 30), paragraph(30, 5)].join('\n\n') });
    expect(chunkDocument(input, { maxChars: 400 })).toEqual(chunkDocument(input, { maxChars: 400 }));
  });

  it('property: chunks are bounded slices of the section, and minus overlaps they hold every word in order', () => {
    const word = fc.stringMatching(/^[a-zA-Z\u00e9\u4e2d\u{1F600}]{1,14}$/u);
    const separator = fc.constantFrom(' ', ' ', ' ', '  ', '. ', '! ', '\n', '\n\n', ', ');
    const text = fc.array(fc.tuple(word, separator), { minLength: 1, maxLength: 400 });
    fc.assert(
      fc.property(
        text,
        fc.integer({ min: 64, max: 400 }),
        fc.integer({ min: 0, max: 200 }),
        (pairs, max, overlap) => {
          // Unique words make the overlap between neighbours unambiguous; words are shorter than any chunk.
          const source = pairs.map(([w, sep], i) => `${w}${i}${sep}`).join('');
          const chunks = chunkText(source, max, overlap);
          for (const chunk of chunks) {
            expect(chunk.length).toBeLessThanOrEqual(max);
            expect(chunk).toBe(chunk.trim());
            expect(source).toContain(chunk);
          }
          expect(wordsOf(withoutOverlap(chunks).join(' '))).toEqual(wordsOf(source));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: any text, however odd, gives bounded, trimmed, well-formed slices of it', () => {
    const piece = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 60 }),
      fc.constantFrom(' ', '\n', '\n\n', '. '),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), fc.integer({ min: 1, max: 300 }), (pieces, max) => {
        const source = pieces.join('');
        const chunks = chunkText(source, max, Math.floor(max / 3));
        for (const chunk of chunks) {
          expect(chunk.length).toBeLessThanOrEqual(Math.max(8, max));
          expect(chunk).toBe(chunk.trim());
          expect(chunk.isWellFormed()).toBe(true);
          expect(source).toContain(chunk);
        }
        expect(chunks.length > 0).toBe(source.trim().length > 0);
      }),
      { numRuns: 500 },
    );
  });
});
