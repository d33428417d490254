// Optional reranking with the language model as judge (RERANK=llm): one call scores every candidate passage.

import type { Logger } from '../core/logger.ts';
import type { LanguageModel } from '../core/provider.ts';
import type { Passage } from '../core/retriever.ts';

const JUDGE_INSTRUCTIONS = `You rate how well passages answer a question. For each numbered passage give a score from 0 (irrelevant) to 10 (answers it directly). Reply with JSON only: {"scores": [s1, s2, ...]} with one number per passage, in order.`;

const PASSAGE_CHARS = 700;

/** Parses the judge's reply; undefined unless it holds exactly one finite score per passage. */
export function parseJudgeScores(reply: string, count: number): number[] | undefined {
  const match = /\{[\s\S]*\}/u.exec(reply);
  if (match === null) return undefined;
  try {
    const parsed = JSON.parse(match[0]) as { scores?: unknown };
    const scores = parsed.scores;
    if (!Array.isArray(scores) || scores.length !== count) return undefined;
    if (!scores.every((score) => typeof score === 'number' && Number.isFinite(score))) return undefined;
    return scores as number[];
  } catch {
    return undefined;
  }
}

/**
 * Reorders passages by the judge's scores (ties keep retrieval order). Any failure other than an abort keeps the
 * retrieval order: reranking improves answers, it must never break them.
 */
export async function rerankWithLanguageModel(
  model: LanguageModel,
  question: string,
  passages: readonly Passage[],
  signal: AbortSignal,
  logger: Logger,
): Promise<Passage[]> {
  if (passages.length < 2) return [...passages];
  const listing = passages
    .map(
      (passage, index) => `[${index + 1}] ${passage.documentTitle}: ${passage.text.slice(0, PASSAGE_CHARS)}`,
    )
    .join('\n\n');
  try {
    const result = await model.generate(
      {
        messages: [
          { role: 'system', content: JUDGE_INSTRUCTIONS },
          { role: 'user', content: `Question: ${question}\n\nPassages:\n\n${listing}` },
        ],
        temperature: 0,
        maxTokens: 16 + passages.length * 4,
      },
      { signal },
    );
    const scores = parseJudgeScores(result.text, passages.length);
    if (scores === undefined) {
      logger.warn({ provider: model.provider }, 'rerank reply unreadable; keeping retrieval order');
      return [...passages];
    }
    return passages
      .map((passage, index) => ({ passage, index, score: scores[index] ?? 0 }))
      .sort((a, b) => b.score - a.score || a.index - b.index)
      .map(({ passage, score }) => ({ ...passage, score }));
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    logger.warn({ err: error, provider: model.provider }, 'rerank failed; keeping retrieval order');
    return [...passages];
  }
}
