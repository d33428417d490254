// The answerer used when no language model is configured: it quotes the passages that best match the question,
// with citations, and says plainly that this is not a model's answer and how to configure one.

import { passageTitle } from '../core/prompt.ts';
import type { GenerateRequest, GenerateResult, LanguageModel, StreamOptions } from '../core/provider.ts';
import type { Passage } from '../core/retriever.ts';
import { splitForStreaming } from '../core/text-pieces.ts';

export const EXTRACTIVE_PREAMBLE =
  'No language model is configured, so this is not a written answer: these are the passages from your documents that best match your question.';

export const EXTRACTIVE_NOTHING_FOUND =
  'No language model is configured, and no passage in your documents matches this question.';

/** The one "how to configure a model" hint: in these answers and in the server's start-up lines. Matches the README. */
export const CONFIGURE_HINT =
  'To get written answers, set LLM_BASE_URL and LLM_MODEL for any OpenAI-compatible server (Ollama, vLLM, LM Studio), or OPENAI_API_KEY or ANTHROPIC_API_KEY with LLM_MODEL, or start Ollama on this machine; Azure and every other setting are in .env.example.';

/** Passages quoted, and sentences quoted from each. */
const MAX_PASSAGES = 3;
const MAX_SENTENCES = 3;

const segmenter = new Intl.Segmenter('en', { granularity: 'sentence' });

function words(text: string): Set<string> {
  return new Set((text.toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) ?? []).filter((word) => !COMMON.has(word)));
}

const COMMON = new Set(
  'the and for are but not you all any can had her was one our out has his how its may new now see who did get him let say she too use what when where which why with does this that from have they will would could should about into than then them there these their your'.split(
    ' ',
  ),
);

/** The passage's sentences that share the most words with the question, in their original order. */
export function bestSentences(passage: string, question: string, max = MAX_SENTENCES): string[] {
  const wanted = words(question);
  const sentences = [...segmenter.segment(passage.replace(/\s+/gu, ' ').trim())]
    .map((segment) => segment.segment.trim())
    .filter((sentence) => sentence !== '');
  const scored = sentences.map((sentence, index) => {
    let score = 0;
    for (const word of words(sentence)) if (wanted.has(word)) score += 1;
    return { sentence, index, score };
  });
  const best = scored
    .filter((entry) => entry.score > 0)
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, max);
  const chosen = best.length > 0 ? best : scored.slice(0, Math.min(2, max));
  return chosen.sort((a, b) => a.index - b.index).map((entry) => entry.sentence);
}

export function extractiveAnswer(question: string, passages: readonly Passage[]): string {
  if (passages.length === 0) return `${EXTRACTIVE_NOTHING_FOUND}\n\n${CONFIGURE_HINT}`;
  const quoted = passages.slice(0, MAX_PASSAGES).map((passage, index) => {
    const title = passageTitle(passage);
    const quote = bestSentences(passage.text, question).join(' ');
    return `**[${index + 1}] ${title}**\n\n> ${quote} [${index + 1}]`;
  });
  return `${EXTRACTIVE_PREAMBLE}\n\n${quoted.join('\n\n')}\n\n${CONFIGURE_HINT}`;
}

function lastQuestion(request: GenerateRequest): string {
  return request.messages.findLast((message) => message.role === 'user')?.content ?? '';
}

export class ExtractiveAnswerer implements LanguageModel {
  readonly provider = 'extractive';
  readonly model = 'none';

  async stream(request: GenerateRequest, options: StreamOptions): Promise<void> {
    const text = extractiveAnswer(lastQuestion(request), request.passages ?? []);
    for (const [index, piece] of splitForStreaming(text).entries()) {
      options.signal.throwIfAborted();
      options.onPart({ type: 'text-delta', text: piece });
      // Yield now and then, so a stop or a reader's drain is seen between pieces.
      if (index % 16 === 15) await new Promise((resolve) => setImmediate(resolve));
    }
    options.signal.throwIfAborted();
    // Nothing was spent on a provider.
    options.onPart({ type: 'usage', usage: { inputTokens: 0, outputTokens: 0 } });
    options.onPart({ type: 'finish', finishReason: 'stop' });
  }

  generate(request: GenerateRequest, options: { signal: AbortSignal }): Promise<GenerateResult> {
    options.signal.throwIfAborted();
    const text = extractiveAnswer(lastQuestion(request), request.passages ?? []);
    return Promise.resolve({ text, usage: { inputTokens: 0, outputTokens: 0 }, finishReason: 'stop' });
  }
}
