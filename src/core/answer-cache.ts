// The answer cache contract (seed 000 semantic cache, seed 002 instant answers): an answer is reused only while
// every document it rests on still has the content it had when the answer was generated, only within the scope of
// people who may share it, and only when nothing private went into generating it.

import type { Source, Usage } from './events.ts';
import type { EmbeddingSpace } from './documents.ts';
import type { Principal } from './principal.ts';

export interface CachedAnswer {
  id: string;
  chatbotId: string;
  /** Who may be served this answer (see cacheScope): entries never cross organisations or reach anonymous visitors. */
  scope: string;
  /** The conversation whose question produced it: deleting the conversation forgets the entry. */
  conversationId: string | null;
  /**
   * Words the answer took from its question alone (see wordsEchoedFromQuestion): a similar question is served this
   * answer only if it says them too, so nobody is told what another asker said about themselves.
   */
  echoedWords: string[];
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
   * documents changed or vanished are removed as they are found. `signal` gives up on the lookup (the run waiting on
   * it was cancelled); the call then rejects with the signal's reason.
   */
  findExact(
    chatbotId: string,
    scope: string,
    normalizedQuestion: string,
    signal?: AbortSignal,
  ): Promise<CachedAnswer | undefined>;
  /**
   * The most similar still-valid entry of the scope with cosine similarity >= minSimilarity, with that similarity;
   * `signal` as for findExact.
   */
  findSimilar(
    chatbotId: string,
    scope: string,
    space: EmbeddingSpace,
    vector: Float32Array,
    minSimilarity: number,
    signal?: AbortSignal,
  ): Promise<{ entry: CachedAnswer; similarity: number } | undefined>;
  /**
   * Stores an entry; undefined (nothing stored) when it names a conversation that no longer exists, checked in the
   * same step, so a conversation deleted while its answer streamed never leaves that answer in the cache.
   */
  put(input: CachedAnswerInput): Promise<CachedAnswer | undefined>;
  recordHit(id: string): Promise<void>;
  /** Removes every entry of a chatbot (after its prompt or settings change). */
  clear(chatbotId: string): Promise<number>;
  /** Removes the entries a conversation's questions produced (the conversation was deleted). */
  forgetConversation(conversationId: string): Promise<number>;
}

/**
 * The people one cached answer may be served to. The answer rests on the chatbot's documents, which all its users may
 * read, and on the asker's question: so it stays within the asker's organisation; signed-in users and keys of no
 * organisation keep their own (nothing says they belong together); anonymous visitors of a public chatbot share
 * only with each other (never with signed-in users, nor they with them); the open install's one user has its own.
 */
export function cacheScope(principal: Pick<Principal, 'kind' | 'orgId' | 'id'>): string {
  if (principal.kind === 'anonymous') return 'public';
  if (principal.kind === 'local') return 'local';
  if (principal.orgId !== null) return `org:${principal.orgId}`;
  return `principal:${principal.id ?? ''}`;
}

/** Words too common to tell anything about the asker. */
const COMMON_WORDS: ReadonlySet<string> = new Set(
  (
    'the a an and or but if of to in on at by for with from as is are was were be been being it its this that ' +
    'these those there their they them you your yours we our us i me my he she his her what which who whom whose ' +
    'how why when where do does did can could should would will shall may might must not no yes so than then ' +
    'about into over under after before between all any each some more most many much very just also only'
  ).split(' '),
);

function wordsOf(text: string): Set<string> {
  const words = new Set<string>();
  for (const match of text
    .normalize('NFKC')
    .toLowerCase()
    .matchAll(/[\p{L}\p{N}]+/gu)) {
    const word = match[0];
    if (!COMMON_WORDS.has(word)) words.add(word);
  }
  return words;
}

/**
 * The words an answer took from its question and from nowhere else (not from the passages or prompt it rests on): a
 * name, a number, an address the asker gave. An exact repeat of the question says them too; a merely similar one
 * ("my number is 555-0100, ..." after "my number is 555-0199, ...") must not be served them.
 */
export function wordsEchoedFromQuestion(
  question: string,
  answer: string,
  groundedOn: readonly string[],
): string[] {
  const fromQuestion = wordsOf(question);
  if (fromQuestion.size === 0) return [];
  const grounded = wordsOf(groundedOn.join('\n'));
  return [...wordsOf(answer)].filter((word) => fromQuestion.has(word) && !grounded.has(word));
}

/**
 * Does the question say something about the asker ("I was fired", "my order 7781")? The answer to it may repeat that
 * in other words, which no word check catches: such an answer is served again only to the very same question (exact
 * match), never to a merely similar one. First-person words in the languages Rivulet's users write most, and numbers
 * and addresses of any kind, mark a question as personal.
 */
export function isPersonalQuestion(question: string): boolean {
  const text = question.normalize('NFKC').toLowerCase();
  if (/\p{N}{3,}|@|\p{N}[\p{N}\s./-]{4,}\p{N}/u.test(text)) return true;
  for (const match of text.matchAll(/[\p{L}']+/gu)) {
    if (FIRST_PERSON.has(match[0])) return true;
  }
  return false;
}

const FIRST_PERSON: ReadonlySet<string> = new Set(
  (
    "i i'm i've i'd i'll im me my mine myself we we're we've our ours us ourselves " +
    'yo mi mis me conmigo nosotros nuestro nuestra ' +
    "je j' j'ai moi mon ma mes nous notre nos " +
    'ich mich mir mein meine meinen meinem meiner wir uns unser unsere ' +
    'io mio mia miei mie noi nostro nostra ' +
    'eu meu minha meus minhas nós nosso nossa ' +
    'ik mij mijn wij ons onze'
  ).split(' '),
);

/** May an entry found by similarity be served for this question? Only if the question says every echoed word. */
export function echoesMatch(entry: Pick<CachedAnswer, 'echoedWords'>, question: string): boolean {
  if (entry.echoedWords.length === 0) return true;
  const words = wordsOf(question);
  return entry.echoedWords.every((word) => words.has(word));
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
