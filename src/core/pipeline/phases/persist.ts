// The persist phase: the answer stored with its status, then the held `done` sent; a complete answer fills the cache.

import {
  isPersonalQuestion,
  normalizeQuestion,
  wordsEchoedFromQuestion,
  type AnswerCacheStore,
} from '../../answer-cache.ts';
import type { StoredMessage } from '../../conversation-store.ts';
import { RivuletError } from '../../errors.ts';
import type { Timings } from '../../events.ts';
import type { Passage, QueryEmbedding } from '../../retriever.ts';
import type { PipelineContext } from '../context.ts';

/**
 * Stores the answer and sends the held `done` ending. Returns false when the answer could not be stored, or its
 * conversation was deleted while it streamed.
 */
export async function persistPhase(context: PipelineContext, timings: Timings): Promise<boolean> {
  const { run, input, deps, recorder } = context;
  try {
    const answer: StoredMessage = {
      id: context.messageId,
      conversationId: input.conversationId,
      role: 'assistant',
      content: recorder.text,
      createdAt: recorder.answerCreatedAt ?? Date.now(),
      status: recorder.status,
      runId: run.runId,
      finishReason: recorder.finishReason,
      errorCode: recorder.errorCode,
      usage: recorder.usage,
      timings,
      sources: recorder.sources,
      cached: recorder.cached,
      ...(recorder.steps === undefined ? {} : { steps: recorder.steps }),
    };
    // Stored when it started (the usual case): rewritten in place. A conversation deleted meanwhile took it along.
    if (recorder.answerCreatedAt !== undefined) return await deps.conversations.replaceMessage(answer);
    await deps.conversations.appendMessage(answer);
    return true;
  } catch (error) {
    deps.logger.error({ runId: run.runId, err: error }, 'storing the answer failed');
    if (
      recorder.ending !== undefined &&
      error instanceof RivuletError &&
      error.code === 'STORE_UNAVAILABLE'
    ) {
      // The readers have the text, but it is not saved: a reload would not find it. Say so, retryably.
      recorder.ending = undefined;
      recorder.status = 'failed';
      recorder.errorCode = error.code;
      run.append({
        type: 'error',
        code: error.code,
        message: 'The answer could not be saved: the database cannot be reached. Retry shortly.',
        retryable: true,
      });
    }
    return false;
  } finally {
    if (recorder.ending !== undefined) run.append(recorder.ending);
  }
}

/** What a generated answer rests on: what the answer cache keeps with it. */
export interface AnswerBasis {
  /** The question as looked up (condensed when it was a follow-up). */
  question: string;
  passages: readonly Passage[];
  queryEmbedding: QueryEmbedding | undefined;
  /** What the answer rests on besides the question (passages, prompt, glossary): see wordsEchoedFromQuestion. */
  groundedOn: () => string[];
  /**
   * Whether the answer may be stored in the cache: only when nothing private went into generating it. A condensed
   * follow-up is still answered with the conversation's history in the prompt, so its answer may repeat what the
   * asker said earlier (a name, a number): such answers are never cached.
   */
  cacheable: boolean;
}

/**
 * Why this answer may not fill the cache, or undefined when it may: one list of rules for the decision and its log.
 * `basis` is undefined unless the answer was generated.
 */
export function notCachedReason(
  context: PipelineContext,
  basis: AnswerBasis | undefined,
  stored: boolean,
): string | undefined {
  const { deps, recorder } = context;
  if (deps.answerCache === undefined || recorder.cached) return 'cache off or a cache hit';
  if (recorder.status !== 'complete' || recorder.finishReason !== 'stop' || basis === undefined) {
    return 'answer did not complete';
  }
  if (!basis.cacheable) return 'generated with history';
  if (basis.passages.length === 0) return 'no passages matched';
  if (deps.assistant === undefined) return 'no language model (a quoted answer)';
  if (!stored) return 'answer not stored';
  return undefined;
}

/** Fills the answer cache with a complete, stored answer that may be shared; logs why not otherwise. */
export async function fillAnswerCache(
  context: PipelineContext,
  basis: AnswerBasis | undefined,
  stored: boolean,
): Promise<void> {
  const { run, deps, recorder } = context;
  const reason = notCachedReason(context, basis, stored);
  if (reason === undefined && deps.answerCache !== undefined && basis !== undefined) {
    await putAnswer(deps.answerCache, context, basis).then(
      () => deps.logger.debug?.({ runId: run.runId }, 'answer cached'),
      (error: unknown) => deps.logger.warn({ runId: run.runId, err: error }, 'caching the answer failed'),
    );
  } else if (deps.answerCache !== undefined && !recorder.cached) {
    const { status, finishReason } = recorder;
    deps.logger.debug?.({ runId: run.runId, status, finishReason }, `not cached: ${reason}`);
  }
}

async function putAnswer(
  cache: AnswerCacheStore,
  context: PipelineContext,
  basis: AnswerBasis,
): Promise<void> {
  const { input, recorder } = context;
  const { question } = basis;
  await cache.put({
    chatbotId: input.chatbot.id,
    scope: input.cacheScope,
    conversationId: input.conversationId,
    echoedWords: wordsEchoedFromQuestion(question, recorder.text, basis.groundedOn()),
    normalizedQuestion: normalizeQuestion(question),
    question,
    answer: recorder.text,
    sources: recorder.sources,
    usage: recorder.usage,
    documentVersions: Object.fromEntries(
      basis.passages.map((passage) => [passage.documentId, passage.contentHash]),
    ),
    // A question that says something about its asker is answered from the cache only when asked again word for
    // word: without its embedding no similar question can find it.
    ...(isPersonalQuestion(question) || basis.queryEmbedding === undefined
      ? {}
      : { embedding: basis.queryEmbedding }),
  });
}
