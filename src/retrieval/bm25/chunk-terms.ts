// A chunk's terms as a lexical index stores them before and after they are merged into postings blocks:
// " term:title:text term:title:text " for a pending chunk (its title and heading occurrences, then its body's),
// and " term term " for a merged one (only the names, so that deleting it touches only its blocks).

import { analyze } from '../text-analysis.ts';

/** What of a chunk is searched: its document's title, its heading and its text. */
export interface ChunkFields {
  title: string;
  heading: string;
  text: string;
}

/** A term of a pending chunk with its frequencies; frequencies are NaN in a merged chunk's terms. */
export interface ChunkTerm {
  term: string;
  title: number;
  text: number;
}

/** A posting of a pending chunk, found in its terms string. */
export interface PendingPosting {
  rowid: number;
  length: number;
  title: number;
  text: number;
}

/** A chunk's length in terms and its terms string (" term:title:text ... "), as a pending chunk stores them. */
export function chunkTerms(fields: ChunkFields): { length: number; terms: string } {
  const titleTerms = analyze(`${fields.title}\n${fields.heading}`);
  const textTerms = analyze(fields.text);
  const frequencies = new Map<string, [title: number, text: number]>();
  for (const term of titleTerms) {
    const entry = frequencies.get(term);
    if (entry === undefined) frequencies.set(term, [1, 0]);
    else entry[0] += 1;
  }
  for (const term of textTerms) {
    const entry = frequencies.get(term);
    if (entry === undefined) frequencies.set(term, [0, 1]);
    else entry[1] += 1;
  }
  const length = titleTerms.length + textTerms.length;
  let terms = ' ';
  for (const [term, [title, text]] of frequencies) terms += `${term}:${title}:${text} `;
  return { length, terms };
}

/**
 * Entries of a terms string: " term:title:text term:title:text " (pending) or " term term " (merged,
 * frequencies then read as NaN).
 */
export function parseChunkTerms(terms: string): ChunkTerm[] {
  const entries: ChunkTerm[] = [];
  for (const entry of terms.split(' ')) {
    if (entry === '') continue;
    const [term, title, text] = entry.split(':');
    entries.push({ term: term as string, title: Number(title), text: Number(text) });
  }
  return entries;
}

/** A merged chunk's terms string: the names of a pending chunk's terms. */
export function mergedChunkTerms(terms: string): string {
  return ` ${parseChunkTerms(terms)
    .map((entry) => entry.term)
    .join(' ')} `;
}

/** The term's postings among pending chunks, found by substring search in their terms strings. */
export function pendingPostings(
  chunks: readonly { rowid: number; length: number; terms: string }[],
  term: string,
): PendingPosting[] {
  const needle = ` ${term}:`;
  const found: PendingPosting[] = [];
  for (const { rowid, length, terms } of chunks) {
    const at = terms.indexOf(needle);
    if (at === -1) continue;
    const from = at + needle.length;
    const [title, text] = terms.slice(from, terms.indexOf(' ', from)).split(':');
    found.push({ rowid, length, title: Number(title), text: Number(text) });
  }
  return found;
}
