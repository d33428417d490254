// The retrieve phase: passages for the question from the chatbot's collection.

import type { Passage, QueryEmbedding } from '../../retriever.ts';
import type { PipelineContext } from '../context.ts';
import type { Query } from './enhance.ts';

/** Reranking looks at more candidates than the prompt will hold. */
const RERANK_POOL_FACTOR = 3;

export interface Retrieval {
  /** Best first: topK of them, or a larger pool for the reranker. */
  passages: Passage[];
  queryEmbedding: QueryEmbedding | undefined;
}

/** `queryEmbedding`: the one the cache lookup computed, if it did (the question is embedded only once). */
export async function retrievePhase(
  context: PipelineContext,
  query: Query,
  queryEmbedding: QueryEmbedding | undefined,
): Promise<Retrieval> {
  const { run, input, deps, recorder } = context;
  recorder.beginPhase('retrieve');
  // The question itself is embedded (as for the cache); glossary expansions only widen the keyword search.
  const embedding = queryEmbedding ?? (await deps.retriever.embedQuery(query.question, run.signal));
  const pool = deps.rerank === undefined ? deps.topK : deps.topK * RERANK_POOL_FACTOR;
  const passages = await deps.retriever.search(
    input.chatbot.collectionId,
    query.searchQuery,
    embedding,
    pool,
    run.signal,
  );
  recorder.endPhase();
  return { passages, queryEmbedding: embedding };
}
