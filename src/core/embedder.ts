// The narrow embedding-model interface (OpenAI, Azure OpenAI, Ollama embeddings).

import type { EmbeddingSpace } from './documents.ts';

export interface Embedder {
  readonly provider: string;
  readonly model: string;
  /** Known after the first call (or from configuration); vectors are stored in this space. */
  space(): Promise<EmbeddingSpace>;
  /**
   * One vector per input, in order, L2-normalised. Batches internally to the provider's limits. Rejects with a
   * RivuletError (UPSTREAM_* codes) on failure, or with the signal's reason when aborted.
   */
  embed(
    texts: readonly string[],
    options: { signal?: AbortSignal; purpose: 'query' | 'document' },
  ): Promise<Float32Array[]>;
  close?(): Promise<void>;
}
