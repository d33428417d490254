// The second pass of lexical search: BM25's best hits reordered by how close together the query's terms stand
// in each hit's text. BM25 scores terms one by one, so a chunk that says "vitamin D deficiency" and one that has
// "vitamin" in its first sentence and "deficiency" in its last score alike; the bonus tells them apart. It reads
// only the hits' text (title, heading, body), so every store gets it unchanged, and the stores' postings keep no
// positions.

import type { ChunkHit } from '../core/documents.ts';
import type { Analyze } from './analysis-cache.ts';
import { queryTerms } from './bm25/bm25.ts';
import { analyze } from './text-analysis.ts';

/**
 * Chosen on the BEIR SciFact train queries (docs/rag.md, "Measured"): two query terms are near when at most
 * `window - 1` terms apart (stopwords not counted); each pair of distinct query terms adds `weight * ln(1 + n)`
 * for its n near occurrences; the best `depth` first-pass hits are reordered (train nDCG@10 the same for 30 and
 * 50, 0.7130 for 20; each hit costs an analysis of its text, ~0.1 ms for a 250-word abstract).
 */
export const PROXIMITY = { window: 5, weight: 0.5, depth: 30 } as const;

/**
 * What of a hit the bonus reads: the same fields the lexical index searches; with the chunk's id and content hash,
 * a cache finds their terms by those (ChunkTextKey).
 */
export type ProximityFields = Pick<ChunkHit, 'documentTitle' | 'heading' | 'text'> &
  Partial<Pick<ChunkHit, 'id' | 'contentHash'>>;

/**
 * The proximity bonus of a chunk for a query's distinct terms (queryTerms): a sum over pairs of distinct query
 * terms of `weight * ln(1 + n)`, n being how often the two stand within the window of each other. Title and
 * heading form one field, the body another; no pair spans the two. `analyzeText` is `analyze` or a cache of it
 * (AnalysisCache): the same chunks come back for question after question.
 */
export function proximityBonus(
  terms: readonly string[],
  fields: ProximityFields,
  analyzeText: Analyze = analyze,
): number {
  if (terms.length < 2) return 0;
  const index = new Map(terms.map((term, i) => [term, i]));
  const pairs = new Float64Array(terms.length * terms.length);
  const { id: chunkId, contentHash } = fields;
  const named = chunkId !== undefined && contentHash !== undefined;
  countNearPairs(
    analyzeText(
      `${fields.documentTitle}\n${fields.heading}`,
      named ? { chunkId, contentHash, field: 'title' } : undefined,
    ),
    index,
    pairs,
  );
  countNearPairs(
    analyzeText(fields.text, named ? { chunkId, contentHash, field: 'text' } : undefined),
    index,
    pairs,
  );
  let bonus = 0;
  for (const count of pairs) if (count > 0) bonus += Math.log1p(count);
  return PROXIMITY.weight * bonus;
}

/**
 * Adds to pairs[low * n + high] each occurrence of query terms `low` < `high` within the window of each other in
 * one field's terms: every term looks back over the window, so each pair of positions counts once.
 */
function countNearPairs(
  fieldTerms: readonly string[],
  index: ReadonlyMap<string, number>,
  pairs: Float64Array,
): void {
  const n = index.size;
  // The query term index at each of the last window - 1 positions (-1: not a query term), as a ring.
  const recent = new Int32Array(PROXIMITY.window - 1).fill(-1);
  for (let position = 0; position < fieldTerms.length; position += 1) {
    const term = index.get(fieldTerms[position] as string) ?? -1;
    if (term >= 0) {
      for (const other of recent) {
        if (other < 0 || other === term) continue;
        (pairs[Math.min(term, other) * n + Math.max(term, other)] as number) += 1;
      }
    }
    recent[position % recent.length] = term;
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
  analyzeText: Analyze = analyze,
): Hit[] {
  const terms = queryTerms(query);
  const head = hits.slice(0, PROXIMITY.depth);
  if (terms.length < 2 || head.length < 2) return [...hits];
  const reranked = head
    .map((hit, rank) => ({ hit, rank, score: hit.score + proximityBonus(terms, hit, analyzeText) }))
    .sort((a, b) => b.score - a.score || a.rank - b.rank)
    .map(({ hit, score }) => ({ ...hit, score }));
  return [...reranked, ...hits.slice(PROXIMITY.depth)];
}
