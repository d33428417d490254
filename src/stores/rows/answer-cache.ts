// An answer_cache row and the CachedAnswer it holds, for every backend (the entry's embedding stays in the row: it
// is only ever compared by the database), and the entry a new row is written from.

import { randomUUID } from 'node:crypto';
import type { CachedAnswer, CachedAnswerInput } from '../../core/answer-cache.ts';
import type { ColumnCodec, ColumnTypes } from './columns.ts';

export interface CachedAnswerRow<C extends ColumnTypes> {
  id: string;
  chatbot_id: string;
  scope: string;
  conversation_id: string | null;
  echoed_words: C['json'];
  normalized_question: string;
  question: string;
  answer: string;
  sources: C['json'];
  usage: C['json'] | null;
  document_versions: C['json'];
  created_at: number;
  hits: number;
}

export function toCachedAnswer<C extends ColumnTypes>(
  row: CachedAnswerRow<C>,
  columns: ColumnCodec<C>,
): CachedAnswer {
  return {
    id: row.id,
    chatbotId: row.chatbot_id,
    scope: row.scope,
    conversationId: row.conversation_id,
    echoedWords: columns.json(row.echoed_words),
    normalizedQuestion: row.normalized_question,
    question: row.question,
    answer: row.answer,
    sources: columns.json(row.sources),
    usage: row.usage === null ? null : columns.json(row.usage),
    documentVersions: columns.json(row.document_versions),
    createdAt: row.created_at,
    hits: row.hits,
  };
}

/** The entry `put` stores for `input`: a new id, created now, never hit yet. */
export function newCachedAnswer(input: CachedAnswerInput): CachedAnswer {
  return {
    id: `ans_${randomUUID()}`,
    chatbotId: input.chatbotId,
    scope: input.scope,
    conversationId: input.conversationId,
    echoedWords: input.echoedWords,
    normalizedQuestion: input.normalizedQuestion,
    question: input.question,
    answer: input.answer,
    sources: input.sources,
    usage: input.usage,
    documentVersions: input.documentVersions,
    createdAt: Date.now(),
    hits: 0,
  };
}
