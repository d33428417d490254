// The enhance phase: a follow-up ("and on Linux?") becomes a standalone question; glossary terms widen the search.

import { matchGlossary, type GlossaryMatch } from '../../glossary.ts';
import type { Logger } from '../../logger.ts';
import { buildCondenseMessages } from '../../prompt.ts';
import type { ChatMessage, LanguageModel } from '../../provider.ts';
import type { PipelineContext } from '../context.ts';

/** The question the answer is looked up and searched with. */
export interface Query {
  /** The question as asked, or condensed into a standalone one. */
  question: string;
  /** What retrieval searches: the question and the glossary's expansions. */
  searchQuery: string;
  /**
   * Whether the question means the same thing outside this conversation: only then may it be answered from the
   * answer cache (shared within the asker's scope). A follow-up is standalone once condensed.
   */
  standalone: boolean;
  glossary: GlossaryMatch;
}

/** Runs (and reports) the phase only when there is a follow-up to condense or a glossary term in the question. */
export async function enhancePhase(
  context: PipelineContext,
  history: readonly ChatMessage[],
): Promise<Query> {
  const { run, input, deps, recorder } = context;
  const glossary = matchGlossary(input.message, input.chatbot.glossary);
  const condense = deps.enhance && deps.assistant !== undefined && history.length > 0;
  const query: Query = {
    question: input.message,
    searchQuery: input.message,
    standalone: history.length === 0,
    glossary,
  };
  if (!condense && glossary.terms.length === 0) return query;
  recorder.beginPhase('enhance');
  if (condense && deps.assistant !== undefined) {
    const condensed = await condenseQuestion(deps.assistant, history, input.message, run.signal, deps.logger);
    if (condensed !== undefined) {
      query.question = condensed;
      query.standalone = true;
    }
  }
  query.searchQuery = [query.question, ...glossary.expansion].join(' ');
  recorder.endPhase();
  return query;
}

/** The longest condensed question, in tokens: one question, not an answer. */
const CONDENSE_MAX_TOKENS = 200;
/**
 * How long condensing a follow-up may take before the question is searched as asked. The answer waits for it behind
 * "Understanding your question...", and a model that answers at length instead of rewriting (or a slow one) would
 * otherwise hold every follow-up for seconds; a rewrite takes well under a second on any usable model.
 */
export const CONDENSE_TIMEOUT_MS = 5_000;

/** The follow-up as a standalone question; undefined when the model failed, took too long or its reply is unusable. */
async function condenseQuestion(
  model: LanguageModel,
  history: readonly ChatMessage[],
  question: string,
  signal: AbortSignal,
  logger: Logger,
): Promise<string | undefined> {
  const timeout = AbortSignal.timeout(CONDENSE_TIMEOUT_MS);
  try {
    const result = await model.generate(
      {
        messages: buildCondenseMessages(history, question),
        temperature: 0,
        maxTokens: CONDENSE_MAX_TOKENS,
      },
      { signal: AbortSignal.any([signal, timeout]) },
    );
    const condensed = result.text.trim().replace(/^["“]|["”]$/gu, '');
    // A reply that is empty, cut at the token limit or rambles is no better than the question as asked.
    if (condensed === '' || result.finishReason === 'length') return undefined;
    return condensed.length > Math.max(400, question.length * 4) ? undefined : condensed;
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (timeout.aborted) {
      logger.warn(
        { provider: model.provider, timeoutMs: CONDENSE_TIMEOUT_MS },
        'query enhancement timed out; searching the question as asked',
      );
      return undefined;
    }
    logger.warn(
      { err: error, provider: model.provider },
      'query enhancement failed; searching the question as asked',
    );
    return undefined;
  }
}
