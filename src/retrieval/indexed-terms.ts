// A text's analysed terms indexed by term: where each distinct term stands. The proximity rerank reads only the
// positions of a question's few terms instead of looking every term of a hit up, and the match quality asks which
// terms a source holds; the analysis cache keeps this index, so a chunk is indexed once, not per question.

import { analyze } from './text-analysis.ts';

/** encodeInTextOrder merges the positions of up to this many terms standing in a text, and sorts more. */
const MERGED_TERMS = 8;

export class IndexedTerms {
  /** How many terms the text has (repeats included): analyze(text).length. */
  readonly length: number;
  /** Each distinct term's number, in order of first occurrence. */
  private readonly ids: Map<string, number>;
  /** Term number i's positions are positions[starts[i], starts[i + 1]). */
  private readonly starts: Int32Array;
  /** Every position, grouped by term number, ascending within each group. */
  private readonly positions: Int32Array;

  constructor(terms: readonly string[]) {
    this.length = terms.length;
    this.ids = new Map();
    const termIds = new Int32Array(terms.length);
    for (let position = 0; position < terms.length; position += 1) {
      const term = terms[position] as string;
      let id = this.ids.get(term);
      if (id === undefined) {
        id = this.ids.size;
        this.ids.set(term, id);
      }
      termIds[position] = id;
    }
    // A counting sort of the positions by term number.
    this.starts = new Int32Array(this.ids.size + 1);
    for (const id of termIds) (this.starts[id + 1] as number) += 1;
    for (let id = 0; id < this.ids.size; id += 1) {
      (this.starts[id + 1] as number) += this.starts[id] as number;
    }
    const next = this.starts.slice(0, this.ids.size);
    this.positions = new Int32Array(terms.length);
    for (let position = 0; position < terms.length; position += 1) {
      const id = termIds[position] as number;
      this.positions[next[id] as number] = position;
      (next[id] as number) += 1;
    }
  }

  has(term: string): boolean {
    return this.ids.has(term);
  }

  /**
   * Writes `position * n + t` for each position of each term t of the n `terms` into `out` from index 0, in text
   * order, and returns how many; 0 when fewer than two of the terms stand in the text (none can stand near another).
   * Each term's positions are ascending already, so a few terms' are merged, not sorted (more than MERGED_TERMS are
   * sorted: a merge compares every term's next position at each step). `out` must have room for `length` codes, and
   * `work` for 3 * n cursors.
   */
  encodeInTextOrder(terms: readonly string[], out: Float64Array, work: Int32Array): number {
    const n = terms.length;
    // Run r is the positions of term work[2n + r]: positions[work[r], work[n + r]).
    let runs = 0;
    for (let term = 0; term < n; term += 1) {
      const id = this.ids.get(terms[term] as string);
      if (id === undefined) continue;
      work[runs] = this.starts[id] as number;
      work[n + runs] = this.starts[id + 1] as number;
      work[2 * n + runs] = term;
      runs += 1;
    }
    if (runs < 2) return 0;
    const positions = this.positions;
    let count = 0;
    if (runs > MERGED_TERMS) {
      for (let run = 0; run < runs; run += 1) count = this.#encodeRun(work, n, run, out, count);
      // A typed array sorts numerically.
      out.subarray(0, count).sort();
      return count;
    }
    while (runs > 1) {
      let best = 0;
      let bestPosition = positions[work[0] as number] as number;
      for (let run = 1; run < runs; run += 1) {
        const position = positions[work[run] as number] as number;
        if (position < bestPosition) {
          best = run;
          bestPosition = position;
        }
      }
      out[count] = bestPosition * n + (work[2 * n + best] as number);
      count += 1;
      (work[best] as number) += 1;
      if (work[best] === work[n + best]) {
        // This term has no position left: the last run takes its place.
        runs -= 1;
        work[best] = work[runs] as number;
        work[n + best] = work[n + runs] as number;
        work[2 * n + best] = work[2 * n + runs] as number;
      }
    }
    // The last term standing: the rest of its positions follow in order.
    return this.#encodeRun(work, n, 0, out, count);
  }

  /** Writes run `run`'s remaining positions (see encodeInTextOrder's `work`) into `out` from `count`; the new count. */
  #encodeRun(work: Int32Array, n: number, run: number, out: Float64Array, count: number): number {
    const tag = work[2 * n + run] as number;
    const end = work[n + run] as number;
    for (let index = work[run] as number; index < end; index += 1) {
      out[count] = (this.positions[index] as number) * n + tag;
      count += 1;
    }
    return count;
  }
}

/** `analyze(text)`, indexed: the uncached analysis the rerank and the match quality default to. */
export function indexTerms(text: string): IndexedTerms {
  return new IndexedTerms(analyze(text));
}
