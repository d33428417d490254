// The cache phase: a standalone question already answered within the asker's scope is answered again from the cache.

import { echoesMatch, normalizeQuestion, type CachedAnswer } from '../../answer-cache.ts';
import { sourceCandidates, type QueryEmbedding } from '../../retriever.ts';
import { splitForStreaming } from '../../text-pieces.ts';
import type { ChatPipelineDeps, PipelineContext } from '../context.ts';
import type { Query } from './enhance.ts';

export interface CacheLookup {
  /** The answer was replayed from the cache: sources and tokens sent, `done` held. */
  answered: boolean;
  /** The question's embedding when the lookup computed one (retrieval reuses it). */
  queryEmbedding: QueryEmbedding | undefined;
}

/** Runs (and reports) the phase only when the cache is on and the question is standalone. */
export async function cachePhase(context: PipelineContext, query: Query): Promise<CacheLookup> {
  const { run, input, deps, recorder } = context;
  const cache = deps.answerCache;
  if (cache === undefined) return { answered: false, queryEmbedding: undefined };
  if (!query.standalone) {
    deps.logger.debug?.({ runId: run.runId }, 'answer cache skipped: a follow-up not made standalone');
    return { answered: false, queryEmbedding: undefined };
  }
  const { question } = query;
  recorder.beginPhase('cache');
  const queryEmbedding = await deps.retriever.embedQuery(question, run.signal);
  const hit = await findCachedAnswer(
    deps,
    input.chatbot.id,
    input.cacheScope,
    question,
    queryEmbedding,
    run.signal,
  );
  recorder.endPhase();
  recorder.cacheOutcome = hit === undefined ? 'miss' : 'hit';
  deps.logger.debug?.({ runId: run.runId, entry: hit?.id }, `answer cache ${recorder.cacheOutcome}`);
  if (hit === undefined) return { answered: false, queryEmbedding };
  recorder.cached = true;
  recorder.sendSources(hit.sources, deps.retriever.assessMatch(question, sourceCandidates(hit.sources)));
  for (const piece of splitForStreaming(hit.answer)) recorder.emitToken(piece);
  recorder.usage = { inputTokens: 0, outputTokens: 0 };
  recorder.holdDone();
  void cache.recordHit(hit.id).catch((error: unknown) => {
    deps.logger.warn({ runId: run.runId, err: error }, 'recording a cache hit failed');
  });
  return { answered: true, queryEmbedding };
}

async function findCachedAnswer(
  deps: ChatPipelineDeps,
  chatbotId: string,
  scope: string,
  question: string,
  embedding: QueryEmbedding | undefined,
  signal: AbortSignal,
): Promise<CachedAnswer | undefined> {
  const cache = deps.answerCache;
  if (cache === undefined) return undefined;
  const exact = await cache.findExact(chatbotId, scope, normalizeQuestion(question), signal);
  if (exact !== undefined || embedding === undefined) return exact;
  const similar = await cache.findSimilar(
    chatbotId,
    scope,
    embedding.space,
    embedding.vector,
    deps.cacheMinSimilarity,
    signal,
  );
  // A similar question is served the answer only if it also says what the answer took from the first asker's.
  return similar !== undefined && echoesMatch(similar.entry, question) ? similar.entry : undefined;
}
