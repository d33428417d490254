// A text's analysed terms indexed by term: where each distinct term stands. The proximity rerank reads only the
// positions of a question's few terms instead of looking every term of a hit up, and the match quality asks which
// terms a source holds; the analysis cache keeps this index, so a chunk is indexed once, not per question.

import { analyze } from './text-analysis.ts';

export class IndexedTerms {
  /** How many terms the text has (repeats included): analyze(text).length. */
  readonly length: number;
  /** Each distinct term's run in `positions`: its offset there. */
  private readonly runs: Map<string, number>;
  /** Per distinct term, in order of first occurrence: its count, then its positions, ascending. */
  private readonly positions: Int32Array;

  constructor(terms: readonly string[]) {
    const counts = new Map<string, number>();
    for (const term of terms) counts.set(term, (counts.get(term) ?? 0) + 1);
    this.runs = new Map();
    this.positions = new Int32Array(counts.size + terms.length);
    let offset = 0;
    for (const [term, count] of counts) {
      this.runs.set(term, offset);
      offset += count + 1;
    }
    for (let position = 0; position < terms.length; position += 1) {
      const run = this.runs.get(terms[position] as string) as number;
      const filled = (this.positions[run] as number) + 1;
      this.positions[run] = filled;
      this.positions[run + filled] = position;
    }
    this.length = terms.length;
  }

  has(term: string): boolean {
    return this.runs.has(term);
  }

  /**
   * Writes `position * stride + tag` for each position of `term` into `out` from index `at`, ascending, and returns
   * how many (0 when the text lacks the term): a caller merging several terms' positions sorts the codes into text
   * order. `out` must have room: all terms together have `length` positions.
   */
  encodePositions(term: string, stride: number, tag: number, out: Float64Array, at: number): number {
    const run = this.runs.get(term);
    if (run === undefined) return 0;
    const count = this.positions[run] as number;
    for (let i = 1; i <= count; i += 1) out[at + i - 1] = (this.positions[run + i] as number) * stride + tag;
    return count;
  }
}

/** `analyze(text)`, indexed: the uncached analysis the rerank and the match quality default to. */
export function indexTerms(text: string): IndexedTerms {
  return new IndexedTerms(analyze(text));
}
