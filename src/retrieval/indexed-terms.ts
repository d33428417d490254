// A text's analysed terms indexed by term: where each distinct term stands. The proximity rerank reads only the
// positions of a question's few terms instead of looking every term of a hit up, and the match quality asks which
// terms a source holds; the analysis cache keeps this index, so a chunk is indexed once, not per question.

import { analyze } from './text-analysis.ts';

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
   * Writes `position * stride + tag` for each position of `term` into `out` from index `at`, ascending, and returns
   * how many (0 when the text lacks the term): a caller merging several terms' positions sorts the codes into text
   * order. `out` must have room: all terms together have `length` positions.
   */
  encodePositions(term: string, stride: number, tag: number, out: Float64Array, at: number): number {
    const id = this.ids.get(term);
    if (id === undefined) return 0;
    const start = this.starts[id] as number;
    const end = this.starts[id + 1] as number;
    for (let i = start; i < end; i += 1) out[at + i - start] = (this.positions[i] as number) * stride + tag;
    return end - start;
  }
}

/** `analyze(text)`, indexed: the uncached analysis the rerank and the match quality default to. */
export function indexTerms(text: string): IndexedTerms {
  return new IndexedTerms(analyze(text));
}
