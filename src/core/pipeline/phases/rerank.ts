// The rerank phase: the retrieved pool reordered (RERANK=llm) and cut to the passages the prompt holds, whose
// sources are then sent (before the first token).

import { toSources } from '../../prompt.ts';
import { passageCandidates, type Passage } from '../../retriever.ts';
import type { PipelineContext } from '../context.ts';

/** Runs (and reports) the reranker only when there is one and more than one passage; returns the topK passages. */
export async function rerankPhase(
  context: PipelineContext,
  question: string,
  retrieved: Passage[],
): Promise<Passage[]> {
  const { run, deps, recorder } = context;
  let passages = retrieved;
  if (deps.rerank !== undefined && passages.length > 1) {
    recorder.beginPhase('rerank');
    passages = await deps.rerank(question, passages, run.signal);
    recorder.endPhase();
  }
  passages = passages.slice(0, deps.topK);
  recorder.sendSources(
    toSources(passages),
    deps.retriever.assessMatch(question, passageCandidates(passages)),
  );
  return passages;
}
