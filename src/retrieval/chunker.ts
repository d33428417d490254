// Splits a parsed document into chunks for indexing. Each section is chunked on its own (a chunk never mixes
// sections); a long section is cut at paragraph breaks, then line breaks, sentences, spaces, words (Intl.Segmenter,
// so CJK text splits between words) and last grapheme clusters, so emoji and surrogate pairs stay whole. Each chunk
// after the first in a section starts with the previous chunk's tail (overlap), from a sentence or word start.
// Every chunk is a contiguous slice of its section's text, at most maxChars long. Deterministic.
import type { ChunkInput } from '../core/documents.ts';
import type { ParsedDocument } from './parsed-document.ts';

export interface ChunkOptions {
  /** Largest chunk in UTF-16 code units (string length); default 1200. */
  maxChars?: number;
  /** Characters of the previous chunk repeated at the start of the next one; default 150, at most maxChars / 2. */
  overlapChars?: number;
}

export type Chunk = Omit<ChunkInput, 'embedding'>;

export const DEFAULT_MAX_CHARS = 1200;
const DEFAULT_OVERLAP_CHARS = 150;

interface Span {
  start: number;
  end: number;
}

/** A piece that is never cut further, and how strong the break after it is (lower is stronger). */
interface Unit extends Span {
  breakLevel: number;
}

const sentences = new Intl.Segmenter('en', { granularity: 'sentence' });
const words = new Intl.Segmenter('en', { granularity: 'word' });
const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** Cut offsets inside [start, end), strongest break first. */
const SPLITTERS: ((text: string, span: Span) => number[])[] = [
  (text, span) => matchEnds(text, span, /\n[^\S\n]*\n\s*/g), // paragraphs
  (text, span) => matchEnds(text, span, /\n/g), // lines
  (text, span) => segmentStarts(sentences, text, span),
  (text, span) => matchEnds(text, span, /\s+/g), // words between spaces
  (text, span) => segmentStarts(words, text, span), // words without spaces (CJK, Thai)
  (text, span) => segmentStarts(graphemes, text, span),
  (text, span) => codePointStarts(text, span), // only for a grapheme cluster longer than maxChars
];
const SECTION_END = -1;

export function chunkDocument(doc: ParsedDocument, options: ChunkOptions = {}): Chunk[] {
  const chunks: Chunk[] = [];
  for (const section of doc.sections) {
    const heading = section.heading.join(' > ');
    for (const text of chunkText(section.text, options.maxChars, options.overlapChars)) {
      chunks.push({
        ordinal: chunks.length,
        text,
        heading,
        ...(section.metadata && { metadata: { ...section.metadata } }),
      });
    }
  }
  return chunks;
}

/** The chunks of one text, each a slice of it (trimmed), in order. */
export function chunkText(
  text: string,
  maxCharsOption = DEFAULT_MAX_CHARS,
  overlapCharsOption = DEFAULT_OVERLAP_CHARS,
): string[] {
  const maxChars = Math.max(8, Math.floor(maxCharsOption));
  const overlapChars = Math.max(0, Math.min(Math.floor(overlapCharsOption), Math.floor(maxChars / 2)));
  const units: Unit[] = [];
  const whole = trim(text, { start: 0, end: text.length });
  if (whole.end > whole.start) split(text, whole, 0, maxChars - overlapChars, SECTION_END, units);
  const chunks: string[] = [];
  let previousStart: number | undefined;
  for (let i = 0; i < units.length;) {
    const contentStart = units[i]!.start;
    const start =
      previousStart === undefined
        ? contentStart
        : overlapStart(text, previousStart, contentStart, overlapChars);
    // Units are at most maxChars - overlapChars long, so the first one always fits after the overlap.
    let last = i;
    let best: number | undefined;
    for (let j = i; j < units.length && units[j]!.end - start <= maxChars; j++) {
      last = j;
      // Prefer the strongest break in the second half of the window; otherwise fill the window.
      const inSecondHalf = units[j]!.end - start >= maxChars / 2;
      if (inSecondHalf && (best === undefined || units[j]!.breakLevel <= units[best]!.breakLevel)) best = j;
    }
    if (best === undefined || units[last]!.breakLevel === SECTION_END) best = last;
    chunks.push(text.slice(start, units[best]!.end));
    previousStart = contentStart;
    i = best + 1;
  }
  return chunks;
}

/** Cuts a span into units no longer than `limit`, using ever finer splitters only where needed. */
function split(
  text: string,
  span: Span,
  level: number,
  limit: number,
  breakAfter: number,
  out: Unit[],
): void {
  if (span.end - span.start <= limit || level >= SPLITTERS.length) {
    out.push({ ...span, breakLevel: breakAfter });
    return;
  }
  const cuts = SPLITTERS[level]!(text, span).filter((cut) => cut > span.start && cut < span.end);
  const parts = [span.start, ...cuts]
    .map((start, k) => trim(text, { start, end: cuts[k] ?? span.end }))
    .filter((part) => part.end > part.start);
  parts.forEach((part, k) =>
    split(text, part, level + 1, limit, k === parts.length - 1 ? breakAfter : level, out),
  );
}

/**
 * Where the overlap before `contentStart` begins: the first sentence start within the last `overlapChars`
 * characters (if it leaves at least a third of them), else the first word start there; never before the previous
 * chunk's own start (the overlap is a proper tail). No overlap when there is no such boundary.
 */
function overlapStart(
  text: string,
  previousStart: number,
  contentStart: number,
  overlapChars: number,
): number {
  if (overlapChars <= 0) return contentStart;
  const from = Math.max(previousStart + 1, contentStart - overlapChars);
  const previous = { start: previousStart, end: contentStart };
  const sentenceStart = segmentStarts(sentences, text, previous).find(
    (at) => at >= from && contentStart - at >= overlapChars / 3 && /\S/.test(text[at] ?? ''),
  );
  if (sentenceStart !== undefined) return sentenceStart;
  const wordStart = wordStarts(text, previous).find((at) => at >= from);
  return wordStart ?? contentStart;
}

function matchEnds(text: string, span: Span, pattern: RegExp): number[] {
  const cuts: number[] = [];
  for (const match of text.slice(span.start, span.end).matchAll(pattern)) {
    cuts.push(span.start + match.index + match[0].length);
  }
  return cuts;
}

function segmentStarts(segmenter: Intl.Segmenter, text: string, span: Span): number[] {
  return Array.from(segmenter.segment(text.slice(span.start, span.end)), (s) => span.start + s.index);
}

function wordStarts(text: string, span: Span): number[] {
  return Array.from(words.segment(text.slice(span.start, span.end)))
    .filter((s) => s.isWordLike)
    .map((s) => span.start + s.index);
}

function codePointStarts(text: string, span: Span): number[] {
  const starts: number[] = [];
  for (let at = span.start; at < span.end; at += text.codePointAt(at)! > 0xffff ? 2 : 1) starts.push(at);
  return starts;
}

function trim(text: string, span: Span): Span {
  let { start, end } = span;
  while (start < end && /\s/.test(text[start]!)) start++;
  while (end > start && /\s/.test(text[end - 1]!)) end--;
  return { start, end };
}
