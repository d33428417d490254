// What every phase of the chat pipeline is given: the run, the request, the dependencies and the run's recorder.

import type { AnswerCacheStore } from '../answer-cache.ts';
import type { Chatbot } from '../chatbots.ts';
import type { ConversationStore, MessageMetadata, Turn } from '../conversation-store.ts';
import type { RivuletError } from '../errors.ts';
import type { Usage } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { RunObserver } from '../observer.ts';
import type { ChatMessage, GenerateRequest, LanguageModel } from '../provider.ts';
import type { Passage, Retriever } from '../retriever.ts';
import type { RunProducer } from '../run-hub.ts';
import type { AgentSetup } from '../tools.ts';
import type { RunRecorder } from './recorder.ts';

export interface ChatInput {
  message: string;
  conversationId: string;
  /**
   * The conversation was created for this answer, in one write with the question and the answer as streaming
   * (ChatService.start, which fails when the id was taken): its history is not read and nothing more is stored before
   * the answer. The answer's message id, and when it was stored.
   */
  newConversation?: { messageId: string; createdAt: number };
  /**
   * The chatbot's collection's lexical generation as the write storing the question read it (after the question
   * arrived; CreateConversationOptions.readGeneration): the answer's searches take it as current.
   */
  lexicalGeneration?: number;
  /** A follow-up's newest turns, read with its conversation (ChatService.start): the history phase reads none. */
  turns?: readonly Turn[];
  chatbot: Chatbot;
  /** Who may share this answer through the answer cache (cacheScope of the asker). */
  cacheScope: string;
  temperature?: number;
  maxTokens?: number;
  /** Who asks (the principal's limit key): the provider queue takes turns between askers. */
  requester?: string;
  /** Stored with the question as the client sent it. */
  metadata?: MessageMetadata;
  /**
   * Under a token budget: holds the built prompt plus the answer's output against the budgets and returns the most
   * tokens the answer may write (TOKEN_BUDGET_EXCEEDED when nothing is left).
   */
  fitToBudget?: (prompt: readonly ChatMessage[]) => Promise<number>;
}

/** Answers from the retrieved passages when the provider chain fails before the first token. */
export interface AnswerFallback {
  /** The extractive answerer: quotes the passages, says the model is unavailable. */
  model: LanguageModel;
  /** Told which provider failed and how: what to fix is kept for admins, never sent to the run's readers. */
  providerFailed(failure: { runId: string; provider: string; error: RivuletError }): void;
}

export interface ChatPipelineDeps {
  conversations: ConversationStore;
  /** Writes the answer: the configured provider chain, or the extractive answerer when there is none. */
  model: LanguageModel;
  /** Quoted passages instead of an error when the provider chain fails (LLM_EXTRACTIVE_FALLBACK); undefined: off. */
  fallback?: AnswerFallback;
  /** Makes the cheap calls (condensing a follow-up, reranking); undefined when no language model is configured. */
  assistant: LanguageModel | undefined;
  retriever: Retriever;
  /** Undefined when the answer cache is off. */
  answerCache: AnswerCacheStore | undefined;
  /** Cosine similarity at or above which a cached answer to another wording is reused. */
  cacheMinSimilarity: number;
  /** Reorders retrieved passages (RERANK=llm); undefined when reranking is off. */
  rerank?: (question: string, passages: readonly Passage[], signal: AbortSignal) => Promise<Passage[]>;
  /** Condense follow-up questions with the history before retrieval. */
  enhance: boolean;
  /** Passages given to the model. */
  topK: number;
  /** Used for chatbots without their own system prompt. */
  systemPrompt: string | undefined;
  /**
   * Counts tokens locally when the provider reported no usage, or when a failover spliced two providers' answers
   * (each reported only its own part). Optional: without it such answers carry `usage: null`.
   */
  estimateUsage?: (messages: readonly ChatMessage[], output: string) => Promise<Usage>;
  /** How many earlier messages go into the prompt. */
  historyLimit: number;
  /**
   * How often the text so far of a streaming answer is saved (RUN_CHECKPOINT_MS), so an answer cut by a crash
   * keeps it; 0 or absent: only when the answer ends.
   */
  checkpointMs?: number;
  logger: Logger;
  /** Metrics: run outcomes, TTFT, token gaps, phases. Optional: nothing is recorded without it. */
  observer?: RunObserver;
  /** The chatbot's tools, when it has any enabled (see AgentSetup); absent: no chatbot uses tools. */
  agent?: (chatbot: Chatbot, signal: AbortSignal) => Promise<AgentSetup | undefined>;
}

// The tool contract lives with the registry that builds it; re-exported for the phases.
export type { AgentSetup, ToolOutcome, ToolSet } from '../tools.ts';

/** One answer's run as the phases see it. */
export interface PipelineContext {
  run: RunProducer;
  input: ChatInput;
  deps: ChatPipelineDeps;
  recorder: RunRecorder;
  /** The id of the assistant message this run writes. */
  messageId: string;
  /** The chatbot's own model and provider chain, where it has them. */
  choice: Pick<GenerateRequest, 'model' | 'providers'>;
}
