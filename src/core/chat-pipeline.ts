// The chat pipeline: writes one answer's events into a run.
// history -> enhance -> cache -> retrieve -> rerank -> generate -> persist (-> fill the cache); a chatbot with tools
// runs the agent loop (pipeline/phases/agent.ts) in place of cache..generate, searching as a tool. Each phase reports
// its duration, sources go out before the first token, and every outcome is stored with its status. Each phase is a
// function in pipeline/phases/; what they share (text, sources, usage, outcome, the held `done`) is the run's
// RunRecorder (pipeline/recorder.ts).

import { newMessageId } from './conversation-ids.ts';
import { enterLogContext } from './logger.ts';
import { noopObserver } from './observer.ts';
import { checkpointScheduler, type AnswerCheckpoints } from './pipeline/checkpoints.ts';
import type { ChatInput, ChatPipelineDeps, PipelineContext } from './pipeline/context.ts';
import { recordFailure } from './pipeline/failure.ts';
import { cachePhase } from './pipeline/phases/cache.ts';
import { enhancePhase, type Query } from './pipeline/phases/enhance.ts';
import { agentPhase } from './pipeline/phases/agent.ts';
import { generatePhase, groundedPrompt, type AnswerPrompt } from './pipeline/phases/generate.ts';
import { historyPhase } from './pipeline/phases/history.ts';
import { fillAnswerCache, persistPhase, type AnswerBasis } from './pipeline/phases/persist.ts';
import { rerankPhase } from './pipeline/phases/rerank.ts';
import { retrievePhase } from './pipeline/phases/retrieve.ts';
import { RunRecorder } from './pipeline/recorder.ts';
import { reportRun } from './pipeline/report.ts';
import { buildAgentMessages } from './prompt.ts';
import type { ChatMessage } from './provider.ts';
import type { QueryEmbedding } from './retriever.ts';
import type { RunProducer } from './run-hub.ts';

export type { ChatInput, ChatPipelineDeps } from './pipeline/context.ts';

/**
 * Runs the pipeline to completion. Never throws: every outcome ends the run with `done` or `error`, and the
 * assistant message is stored with its status and whatever text was generated.
 */
export async function runChatPipeline(
  run: RunProducer,
  input: ChatInput,
  deps: ChatPipelineDeps,
): Promise<void> {
  const startedAt = performance.now();
  const messageId = input.newConversation?.messageId ?? newMessageId();
  const chatbot = input.chatbot;
  // The chatbot's own model and provider chain, where it has them.
  const choice = {
    ...(chatbot.model === null ? {} : { model: chatbot.model }),
    ...(chatbot.providers.length === 0 ? {} : { providers: chatbot.providers }),
  };
  const answerer = deps.model.describe?.(choice) ?? {
    provider: deps.model.provider,
    model: deps.model.model,
  };
  run.append({
    type: 'start',
    runId: run.runId,
    conversationId: input.conversationId,
    messageId,
    chatbotId: chatbot.id,
    provider: answerer.provider,
    model: answerer.model,
  });
  const trace = (deps.observer ?? noopObserver).runStarted({
    chatbotId: chatbot.id,
    provider: answerer.provider,
  });
  const recorder = new RunRecorder({
    run,
    trace,
    startedAt,
    estimateUsage: deps.estimateUsage,
    logger: deps.logger,
  });
  const context: PipelineContext = { run, input, deps, recorder, messageId, choice };
  /** Set once the answer is stored as streaming: its text is saved from then on, with every other answer's. */
  let checkpoints: AnswerCheckpoints | undefined;
  /** Set once an answer is generated: what it rests on, for the answer cache. */
  let basis: AnswerBasis | undefined;
  try {
    const history = await historyPhase(context);
    // Provider calls from here on log their debug lines with this run's id. Named here, after this flow's first
    // await: a phase's own flow ends with the phase (see enterLogContext).
    enterLogContext({ runId: run.runId });
    checkpoints = checkpointScheduler(deps.conversations, deps.checkpointMs ?? 0, deps.logger).track({
      messageId,
      runId: run.runId,
      recorder,
    });
    const query = await enhancePhase(context, history);
    const agent = await deps.agent?.(chatbot, run.signal);
    if (agent?.searchDocuments === true) {
      // The model searches when it needs to (the search tool sends the sources); no shared cache: what a tool
      // returns may differ from one asking to the next.
      const messages = buildAgentMessages({
        systemPrompt: chatbot.systemPrompt ?? deps.systemPrompt,
        history,
        question: input.message,
        glossary: query.glossary.terms,
      });
      await agentPhase(context, agent, messages, []);
    } else if (agent !== undefined) {
      // Tools beside plain RAG: the passages are retrieved first and stay in the prompt.
      const retrieval = await retrievePhase(context, query, undefined);
      const passages = await rerankPhase(context, query.question, retrieval.passages);
      await agentPhase(context, agent, groundedPrompt(context, history, query, passages).messages, passages);
    } else {
      const lookup = await cachePhase(context, query);
      if (!lookup.answered) {
        // Retrieval's results stay in groundPrompt's frame (a suspended async function keeps every local it has, and
        // this one waits for the whole answer); generatePhase lets the prompt's passages go at the first token.
        const grounded = await groundPrompt(context, history, query, lookup.queryEmbedding);
        basis = grounded.basis;
        await generatePhase(context, grounded.prompt);
      }
    }
  } catch (caught) {
    await recordFailure(context, caught);
  }

  const timings = recorder.timings();
  // A checkpoint in flight lands first (it cannot undo the final store anyway: only streaming answers take one).
  await checkpoints?.stop();
  const stored = await persistPhase(context, timings);
  await fillAnswerCache(context, basis, stored);
  reportRun(context, answerer.provider, timings);
}

/** Retrieval, the sources and the grounded prompt; what the answer rests on when there is an answer cache to fill. */
async function groundPrompt(
  context: PipelineContext,
  history: readonly ChatMessage[],
  query: Query,
  queryEmbedding: QueryEmbedding | undefined,
): Promise<{ prompt: AnswerPrompt; basis: AnswerBasis | undefined }> {
  const retrieval = await retrievePhase(context, query, queryEmbedding);
  const passages = await rerankPhase(context, query.question, retrieval.passages);
  const grounded = groundedPrompt(context, history, query, passages);
  // Without an answer cache nothing reads the basis: the passages are not kept for it.
  const basis =
    context.deps.answerCache === undefined
      ? undefined
      : {
          question: query.question,
          passages,
          queryEmbedding: retrieval.queryEmbedding,
          groundedOn: grounded.groundedOn,
          cacheable: history.length === 0,
        };
  return { prompt: { messages: grounded.messages, passages }, basis };
}
