// The built-in `search_documents` tool: the retrieval pipeline (search, rerank, top K) over the chatbot's collection
// as a tool the model calls. What it finds becomes the answer's numbered sources, cited like plain RAG: [1] is the
// first passage found; a later search continues the numbering, and a passage found twice keeps its first number.

import { toRivuletError } from '../errors.ts';
import { formatNumberedPassage, toSources } from '../prompt.ts';
import type { ToolDefinition } from '../provider.ts';
import { passageCandidates, type Passage } from '../retriever.ts';
import type { PipelineContext, ToolOutcome } from './context.ts';
import { findPassages } from './phases/retrieve.ts';

export const SEARCH_DOCUMENTS = 'search_documents';

/** Longest query the tool accepts. */
const MAX_QUERY_CHARS = 1000;

export interface SearchSession {
  definition: ToolDefinition;
  /** Runs one search; invalid input or a failed search is an outcome the model reads, an abort rejects. */
  call(input: unknown): Promise<ToolOutcome>;
}

/** What the client sees of one search (the model reads the passages themselves). */
export interface SearchOutput {
  query: string;
  results: { id: string; title: string; snippet: string }[];
}

/**
 * `numbered`: how many sources the answer already has (passages retrieved before the loop), so the first search
 * continues after them.
 */
export function searchDocumentsTool(context: PipelineContext, numbered: number): SearchSession {
  const { run, deps, recorder } = context;
  /** Every passage found so far, by chunk id, with its citation number. */
  const found = new Map<string, number>();
  let count = numbered;
  const definition: ToolDefinition = {
    name: SEARCH_DOCUMENTS,
    description:
      "Searches this assistant's knowledge base (the documents it answers from) and returns the most relevant passages, each with a citation number.",
    inputSchema: {
      type: 'object',
      properties: {
        query: {
          type: 'string',
          description: 'What to look for: a question or keywords, in the language of the documents.',
        },
      },
      required: ['query'],
      additionalProperties: false,
    },
  };

  async function search(query: string): Promise<Passage[]> {
    let { passages } = await findPassages(context, query, query);
    if (deps.rerank !== undefined && passages.length > 1)
      passages = await deps.rerank(query, passages, run.signal);
    return passages.slice(0, deps.topK);
  }

  return {
    definition,
    async call(toolInput) {
      const query =
        typeof toolInput === 'object' && toolInput !== null && 'query' in toolInput
          ? toolInput.query
          : undefined;
      if (typeof query !== 'string' || query.trim() === '' || query.length > MAX_QUERY_CHARS) {
        return {
          ok: false,
          code: 'TOOL_INPUT_INVALID',
          message: `search_documents takes {"query": "<text>"} with 1 to ${MAX_QUERY_CHARS} characters.`,
        };
      }
      let passages: Passage[];
      try {
        passages = await search(query.trim());
      } catch (error) {
        if (run.signal.aborted) throw error;
        const coded = toRivuletError(error);
        deps.logger.warn({ runId: run.runId, code: coded.code }, 'search_documents failed');
        return { ok: false, code: 'TOOL_FAILED', message: `The search failed (${coded.code}).` };
      }
      const fresh = passages.filter((passage) => !found.has(passage.chunkId));
      const sources = toSources(fresh, count + 1);
      fresh.forEach((passage, index) => found.set(passage.chunkId, count + 1 + index));
      count += fresh.length;
      if (fresh.length > 0) {
        recorder.sendSources(
          [...recorder.sources, ...sources],
          deps.retriever.assessMatch(query, passageCandidates(passages)),
        );
      }
      const numbers = passages.map((passage) => found.get(passage.chunkId) ?? 0);
      const byNumber = new Map(recorder.sources.map((source) => [source.id, source]));
      const output: SearchOutput = {
        query,
        results: numbers.map((number) => {
          const source = byNumber.get(String(number));
          return { id: String(number), title: source?.title ?? '', snippet: source?.snippet ?? '' };
        }),
      };
      const text =
        passages.length === 0
          ? 'No passage in the knowledge base matched this search.'
          : passages
              .map((passage, index) => formatNumberedPassage(numbers[index] ?? 0, passage))
              .join('\n\n');
      return { ok: true, output, text };
    },
  };
}
