// The answer cache contract (seed 000 semantic cache, seed 002 instant answers): an answer is reused only while
// every document it rests on still has the content it had when the answer was generated.

import type { Source, Usage } from './events.ts';
import type { EmbeddingSpace } from './documents.ts';

export interface CachedAnswer {
  id: string;
  chatbotId: string;
  /** The question as normalised for exact matching (see normalizeQuestion). */
  normalizedQuestion: string;
  question: string;
  answer: string;
  sources: Source[];
  usage: Usage | null;
  /** documentId -> content hash of every document the answer's sources came from. */
  documentVersions: Record<string, string>;
  createdAt: number;
  hits: number;
}

export type CachedAnswerInput = Omit<CachedAnswer, 'id' | 'createdAt' | 'hits'> & {
  /** The question's embedding, for semantic matching; absent when no embedding model is configured. */
  embedding?: { space: EmbeddingSpace; vector: Float32Array };
};

export interface AnswerCacheStore {
  /**
   * The entry for this exact normalised question whose documents are all unchanged, or undefined. Entries whose
   * documents changed or vanished are removed as they are found.
   */
  findExact(chatbotId: string, normalizedQuestion: string): Promise<CachedAnswer | undefined>;
  /** The most similar still-valid entry with cosine similarity >= minSimilarity, with that similarity. */
  findSimilar(
    chatbotId: string,
    space: EmbeddingSpace,
    vector: Float32Array,
    minSimilarity: number,
  ): Promise<{ entry: CachedAnswer; similarity: number } | undefined>;
  put(input: CachedAnswerInput): Promise<CachedAnswer>;
  recordHit(id: string): Promise<void>;
  /** Removes every entry of a chatbot (after its prompt or settings change). */
  clear(chatbotId: string): Promise<number>;
}

/** Lower case, Unicode NFKC, collapsed whitespace, trailing punctuation dropped: "What is X?" equals "what is x". */
export function normalizeQuestion(question: string): string {
  return question
    .normalize('NFKC')
    .toLowerCase()
    .replace(/\s+/gu, ' ')
    .trim()
    .replace(/[\s?!.。？！]+$/u, '');
}
