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
  context.recorder.beginPhase('retrieve');
  // The generation the question was stored at (where the store read it): the answer's search ranks at it.
  const retrieval = await findPassages(
    context,
    query.question,
    query.searchQuery,
    queryEmbedding,
    context.input.lexicalGeneration,
  );
  context.recorder.endPhase();
  return retrieval;
}

/**
 * Searches the chatbot's collection: `question` is embedded (unless its embedding is given) and `searchQuery` (the
 * question, widened by glossary expansions) searched by keywords. Also the `search_documents` tool's search, which
 * gives no `atGeneration`: an agent's later searches see the collection as it is then, not as it was when the
 * question arrived (Retriever.search).
 */
export async function findPassages(
  context: PipelineContext,
  question: string,
  searchQuery: string,
  queryEmbedding?: QueryEmbedding,
  atGeneration?: number,
): Promise<Retrieval> {
  const { run, input, deps } = context;
  const embedding = queryEmbedding ?? (await deps.retriever.embedQuery(question, run.signal));
  const pool = deps.rerank === undefined ? deps.topK : deps.topK * RERANK_POOL_FACTOR;
  const passages = await deps.retriever.search(
    input.chatbot.collectionId,
    searchQuery,
    embedding,
    pool,
    run.signal,
    atGeneration,
  );
  return { passages, queryEmbedding: embedding };
}
