// Helpers every loader shares: coded errors that name the file, text decoding, and a builder that turns a stream
// of headings and text blocks into sections under heading paths.
import { RivuletError } from '../../core/errors.ts';
import type { LoadOptions, ParsedSection } from '../parsed-document.ts';

/** What a format loader returns; loadDocument adds the media type, the fallback title and the emptiness check. */
export interface LoadedParts {
  title?: string | undefined;
  sections: ParsedSection[];
  metadata?: Record<string, unknown>;
}

export type FormatLoader = (
  bytes: Uint8Array,
  fileName: string,
  options: LoadOptions,
  limits: LoadLimits,
) => LoadedParts | Promise<LoadedParts>;

/** What one document may cost to read; the parse worker's memory limit and timeout are the backstop. */
export interface LoadLimits {
  /** Bytes compressed content may inflate to: a DOCX's XML parts, a PDF's Flate streams (images aside). */
  maxExpandedBytes: number;
  /** Characters of text a document may hold (more could not fit in the chunks allowed). */
  maxTextChars: number;
}

export const DEFAULT_LOAD_LIMITS: LoadLimits = {
  maxExpandedBytes: 32 * 1024 * 1024,
  maxTextChars: 10_000 * 1200,
};

/** Columns of a CSV, or distinct fields over all JSON records, a document may have. */
export const MAX_FIELDS = 2000;
/** Pages of a PDF read. */
export const MAX_PDF_PAGES = 10_000;

/** The message reads "<fileName>: <reason>", the reason in plain words. */
export function unreadable(fileName: string, reason: string, cause?: unknown): RivuletError {
  const detail = cause instanceof Error ? cause.message : undefined;
  return new RivuletError('DOCUMENT_UNREADABLE', { message: `${fileName}: ${reason}`, detail, cause });
}

export function empty(fileName: string, reason = 'no text to index'): RivuletError {
  return new RivuletError('DOCUMENT_EMPTY', { message: `${fileName}: ${reason}` });
}

export function tooComplex(fileName: string, reason: string): RivuletError {
  return new RivuletError('DOCUMENT_TOO_COMPLEX', { message: `${fileName}: ${reason}` });
}

/** The inflated size is counted as it comes; `maxBytes` is the cap that was reached. */
export function expandsTooBig(fileName: string, what: string, maxBytes: number): RivuletError {
  return new RivuletError('DOCUMENT_EXPANDS_TOO_BIG', {
    message: `${fileName}: ${what} unpack to more than ${formatBytes(maxBytes)} (DOCUMENT_MAX_EXPANDED_BYTES)`,
  });
}

export function tooMuchText(fileName: string, maxChars: number): RivuletError {
  return new RivuletError('DOCUMENT_TOO_MANY_CHUNKS', {
    message: `${fileName}: holds more than ${maxChars.toLocaleString('en')} characters of text, more than DOCUMENT_MAX_CHUNKS chunks can hold; split the file`,
  });
}

export function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${+(bytes / 1024 / 1024).toFixed(1)} MB`
    : `${+(bytes / 1024).toFixed(1)} KB`;
}

/** UTF-8 (a BOM is dropped) or UTF-16 with a BOM; line endings become \n. Invalid bytes are an error, not U+FFFD. */
export function decodeText(bytes: Uint8Array, fileName: string): string {
  const encoding =
    bytes[0] === 0xff && bytes[1] === 0xfe
      ? 'utf-16le'
      : bytes[0] === 0xfe && bytes[1] === 0xff
        ? 'utf-16be'
        : 'utf-8';
  let text: string;
  try {
    text = new TextDecoder(encoding, { fatal: true }).decode(bytes);
  } catch (error) {
    throw unreadable(fileName, `not valid ${encoding.toUpperCase()} text`, error);
  }
  if (text.includes('\u0000')) throw unreadable(fileName, 'a binary file, not text');
  return text.replace(/\r\n?/g, '\n');
}

/** Collapses runs of spaces and tabs, trims each line and drops blank lines at the start and end. */
export function tidy(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/[^\S\n]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/**
 * Collects sections: `heading(level, text)` opens a section at that depth (closing deeper ones), `add(text)`
 * appends a block. Blocks are separated by a blank line, except consecutive `line` blocks (list items, table rows).
 */
export class SectionBuilder {
  readonly sections: ParsedSection[] = [];
  /** The first level-1 heading, else the first heading of any level. */
  title: string | undefined;
  #titleLevel = Infinity;
  #path: { level: number; text: string }[] = [];
  #text = '';
  #lastKind: 'block' | 'line' | undefined;

  heading(level: number, text: string): void {
    const clean = text.replace(/\s+/g, ' ').trim();
    if (!clean) return;
    this.flush();
    while (this.#path.length > 0 && this.#path.at(-1)!.level >= level) this.#path.pop();
    this.#path.push({ level, text: clean });
    if (level < this.#titleLevel && (this.title === undefined || level === 1)) {
      this.title = clean;
      this.#titleLevel = level;
    }
  }

  add(text: string, kind: 'block' | 'line' = 'block'): void {
    const clean = text.trim();
    if (!clean) return;
    if (this.#text) this.#text += kind === 'line' && this.#lastKind === 'line' ? '\n' : '\n\n';
    this.#text += clean;
    this.#lastKind = kind;
  }

  flush(): void {
    if (this.#text) this.sections.push({ heading: this.#path.map((entry) => entry.text), text: this.#text });
    this.#text = '';
    this.#lastKind = undefined;
  }

  finish(): ParsedSection[] {
    this.flush();
    return this.sections;
  }
}
