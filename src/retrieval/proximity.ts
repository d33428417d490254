// The second pass of lexical search: BM25's best hits reordered by how close together the query's terms stand
// in each hit's text. BM25 scores terms one by one, so a chunk that says "vitamin D deficiency" and one that has
// "vitamin" in its first sentence and "deficiency" in its last score alike; the bonus tells them apart. It reads
// only the hits' text (title, heading, body), so every store gets it unchanged, and the stores' postings keep no
// positions.

import type { ChunkHit } from '../core/documents.ts';
import type { Analyze } from './analysis-cache.ts';
import { queryTerms } from './bm25/bm25.ts';
import { indexTerms, type IndexedTerms } from './indexed-terms.ts';

/**
 * Chosen on the BEIR SciFact train queries (docs/rag.md, "Measured"): two query terms are near when at most
 * `window - 1` terms apart (stopwords not counted); each pair of distinct query terms adds `weight * ln(1 + n)`
 * for its n near occurrences; the best `depth` first-pass hits are reordered (train nDCG@10 the same for 30 and
 * 50, 0.7130 for 20; each hit costs an analysis of its text, ~0.1 ms for a 250-word abstract). Only a question's
 * first `maxTerms` distinct terms pair up: the pairs grow with the square of the terms, and a question of 32,000
 * characters can hold 5,000 distinct terms (seconds of the event loop and 250 MB for the rerank without the cap).
 */
export const PROXIMITY = { window: 5, weight: 0.5, depth: 30, maxTerms: 64 } as const;

/** The distinct query terms whose pairs the bonus counts: the first PROXIMITY.maxTerms. */
function pairedTerms(terms: readonly string[]): readonly string[] {
  return terms.length > PROXIMITY.maxTerms ? terms.slice(0, PROXIMITY.maxTerms) : terms;
}

/**
 * What of a hit the bonus reads: the same fields the lexical index searches; with the chunk's id and content hash,
 * a cache finds their terms by those (ChunkTextKey).
 */
export type ProximityFields = Pick<ChunkHit, 'documentTitle' | 'heading' | 'text'> &
  Partial<Pick<ChunkHit, 'id' | 'contentHash'>>;

/**
 * The proximity bonus of a chunk for a query's distinct terms (queryTerms): a sum over pairs of distinct query
 * terms of `weight * ln(1 + n)`, n being how often the two stand within the window of each other. Title and
 * heading form one field, the body another; no pair spans the two. `analyzeText` is `indexTerms` or a cache of it
 * (AnalysisCache): the same chunks come back for question after question.
 */
export function proximityBonus(
  queryTerms: readonly string[],
  fields: ProximityFields,
  analyzeText: Analyze = indexTerms,
): number {
  const terms = pairedTerms(queryTerms);
  if (terms.length < 2) return 0;
  const { title, text } = analysedFields(fields, analyzeText);
  return bonusOfAnalysed(
    terms,
    title,
    text,
    new Float64Array(terms.length * terms.length),
    occurrencesFor(terms),
  );
}

/** Work arrays: the positions of a field's query terms (grown to the longest field seen), and merge cursors. */
interface Occurrences {
  codes: Float64Array;
  cursors: Int32Array;
}

function occurrencesFor(terms: readonly string[]): Occurrences {
  return { codes: new Float64Array(0), cursors: new Int32Array(3 * terms.length) };
}

/** A hit's two fields analysed by `analyzeText`, by the chunk's id and content hash when it has them. */
function analysedFields(fields: ProximityFields, analyzeText: Analyze): AnalysedFields {
  const { id: chunkId, contentHash } = fields;
  const named = chunkId !== undefined && contentHash !== undefined;
  return {
    title: analyzeText(proximityTitle(fields), named ? { chunkId, contentHash, field: 'title' } : undefined),
    text: analyzeText(fields.text, named ? { chunkId, contentHash, field: 'text' } : undefined),
  };
}

/** The text of a hit's first field: its document's title and its heading, one line each. */
export function proximityTitle(fields: Pick<ChunkHit, 'documentTitle' | 'heading'>): string {
  return `${fields.documentTitle}\n${fields.heading}`;
}

/** proximityBonus over the two fields analysed already, with its work arrays given (a rerank allocates them once). */
function bonusOfAnalysed(
  terms: readonly string[],
  title: IndexedTerms,
  text: IndexedTerms,
  pairs: Float64Array,
  occurrences: Occurrences,
): number {
  pairs.fill(0);
  countNearPairs(title, terms, pairs, occurrences);
  countNearPairs(text, terms, pairs, occurrences);
  let bonus = 0;
  for (const count of pairs) if (count > 0) bonus += Math.log1p(count);
  return PROXIMITY.weight * bonus;
}

/**
 * Adds to pairs[low * n + high] each occurrence of query terms `low` < `high` (of the n distinct `terms`) within
 * the window of each other in one field: each pair of positions at most `window - 1` apart counts once. Reads only
 * the query terms' positions (in text order, as `position * n + term` codes), so its cost follows how often the
 * query's terms occur, not the field's length.
 */
function countNearPairs(
  field: IndexedTerms,
  terms: readonly string[],
  pairs: Float64Array,
  occurrences: Occurrences,
): void {
  const n = terms.length;
  if (occurrences.codes.length < field.length) occurrences.codes = new Float64Array(field.length * 2);
  const codes = occurrences.codes;
  const count = field.encodeInTextOrder(terms, codes, occurrences.cursors);
  for (let later = 1; later < count; later += 1) {
    const code = codes[later] as number;
    const term = code % n;
    const position = (code - term) / n;
    for (let earlier = later - 1; earlier >= 0; earlier -= 1) {
      const before = codes[earlier] as number;
      const other = before % n;
      if (position - (before - other) / n >= PROXIMITY.window) break;
      if (other !== term) (pairs[Math.min(term, other) * n + Math.max(term, other)] as number) += 1;
    }
  }
}

/**
 * The first `PROXIMITY.depth` hits reordered by BM25 score plus proximity bonus (their score becomes that sum),
 * the rest after them as they were. Hits must be best first by BM25; a tie keeps the first-pass order. The order
 * stays best first by score: the bonus is never negative, so no reordered hit drops below the first one left as
 * it was.
 */
export function rerankByProximity<Hit extends ProximityFields & { score: number }>(
  query: string,
  hits: readonly Hit[],
  analyzeText: Analyze = indexTerms,
): Hit[] {
  const ranked = rerankAnalysed(
    query,
    hits,
    (hit) => hit.score,
    (hit) => analysedFields(hit, analyzeText),
    hits.length,
  );
  return ranked.map(({ index, score }) => {
    const hit = hits[index] as Hit;
    return hit.score === score ? hit : { ...hit, score };
  });
}

/** A hit's two fields analysed (indexTerms of proximityTitle(hit) and of hit.text), as a cache keeps them. */
export interface AnalysedFields {
  readonly title: IndexedTerms;
  readonly text: IndexedTerms;
}

/**
 * The rerank itself, for hits whose fields `fieldsOf` gives analysed (a cache's, or analysed now): which hits (their
 * indexes in `hits`) and with what score, best first, at most `limit`, without copying a hit. The first
 * PROXIMITY.depth hits get their bonus, the rest follow as they were.
 */
export function rerankAnalysed<Hit>(
  query: string,
  hits: readonly Hit[],
  scoreOf: (hit: Hit) => number,
  fieldsOf: (hit: Hit) => AnalysedFields,
  limit: number,
): { index: number; score: number }[] {
  const terms = pairedTerms(queryTerms(query));
  const depth = Math.min(hits.length, PROXIMITY.depth);
  const ranked: { index: number; score: number }[] = [];
  if (terms.length < 2 || depth < 2) {
    for (let index = 0; index < Math.min(limit, hits.length); index += 1) {
      ranked.push({ index, score: scoreOf(hits[index] as Hit) });
    }
    return ranked;
  }
  const pairs = new Float64Array(terms.length * terms.length);
  const occurrences = occurrencesFor(terms);
  for (let index = 0; index < depth; index += 1) {
    const hit = hits[index] as Hit;
    const { title, text } = fieldsOf(hit);
    ranked.push({ index, score: scoreOf(hit) + bonusOfAnalysed(terms, title, text, pairs, occurrences) });
  }
  ranked.sort((a, b) => b.score - a.score || a.index - b.index);
  if (ranked.length > limit) ranked.length = limit;
  for (let index = depth; ranked.length < limit && index < hits.length; index += 1) {
    ranked.push({ index, score: scoreOf(hits[index] as Hit) });
  }
  return ranked;
}
