// Retrieval and the answer cache: how many passages, how they are found and ranked, and when an answer is reused.

import { z } from 'zod';
import { booleanText, integer } from './fields.ts';

export const retrievalSchema = z.object({
  HISTORY_LIMIT: integer(20),
  RETRIEVAL_TOP_K: integer(6, 1).pipe(z.number().max(50)),
  RETRIEVAL_CANDIDATES: integer(40, 1).pipe(z.number().max(1000)),
  RETRIEVAL_RRF_K: integer(60, 1),
  QUERY_ENHANCE: booleanText(true),
  RERANK: z.enum(['off', 'llm']).default('off'),
  ANSWER_CACHE: booleanText(true),
  ANSWER_CACHE_SIMILARITY: z.coerce.number().min(0.5).max(1).default(0.95),
  ANSWER_CACHE_MAX_ENTRIES: integer(10_000, 1),
});
export type RetrievalValues = z.infer<typeof retrievalSchema>;

export interface RetrievalSettings {
  retrieval: {
    /** Sources given to the model (and sent to the client). */
    topK: number;
    /** Candidates taken from each retriever (BM25, vectors) before fusion. */
    candidates: number;
    /** Reciprocal rank fusion constant. */
    rrfK: number;
    /** Condense a follow-up question with the history (one cheap LLM call; skipped without an LLM). */
    enhance: boolean;
    /** Rerank the fused candidates with the LLM as judge. */
    rerank: RetrievalValues['RERANK'];
  };
  cache: { enabled: boolean; minSimilarity: number; maxEntriesPerChatbot: number };
  historyLimit: number;
}

export function resolveRetrieval(values: RetrievalValues): RetrievalSettings {
  return {
    retrieval: {
      topK: values.RETRIEVAL_TOP_K,
      candidates: values.RETRIEVAL_CANDIDATES,
      rrfK: values.RETRIEVAL_RRF_K,
      enhance: values.QUERY_ENHANCE,
      rerank: values.RERANK,
    },
    cache: {
      enabled: values.ANSWER_CACHE,
      minSimilarity: values.ANSWER_CACHE_SIMILARITY,
      maxEntriesPerChatbot: values.ANSWER_CACHE_MAX_ENTRIES,
    },
    historyLimit: values.HISTORY_LIMIT,
  };
}
