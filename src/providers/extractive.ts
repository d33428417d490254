// The answerer used when no language model is configured: it quotes the passages that best match the question,
// with citations, and says plainly that this is not a model's answer and how to configure one.

import { passageTitle } from '../core/prompt.ts';
import type { GenerateRequest, GenerateResult, LanguageModel, StreamOptions } from '../core/provider.ts';
import type { Passage } from '../core/retriever.ts';
import { splitForStreaming } from '../core/text-pieces.ts';
import { analyze } from '../retrieval/text-analysis.ts';

export const EXTRACTIVE_PREAMBLE =
  'No language model is configured, so this is not a written answer: these are the passages from your documents that best match your question.';

/** When the configured model failed: visitors read this, so it names no setting (admins get the fix elsewhere). */
export const MODEL_UNAVAILABLE_PREAMBLE =
  'The language model is unavailable right now, so this is not a written answer: these are the passages from your documents that best match your question.';

export const EXTRACTIVE_NOTHING_FOUND =
  'No language model is configured, and no passage in your documents matches this question.';

/** The one "how to configure a model" hint: in these answers and in the server's start-up lines. Matches the README. */
export const CONFIGURE_HINT =
  'To get written answers, set LLM_BASE_URL and LLM_MODEL for any OpenAI-compatible server (Ollama, vLLM, LM Studio), or OPENAI_API_KEY or ANTHROPIC_API_KEY with LLM_MODEL, or start Ollama on this machine; Azure and every other setting are in .env.example.';

/** Passages quoted, and sentences (or list items) quoted from each. */
const MAX_PASSAGES = 3;
const MAX_SENTENCES = 3;
/** A sentence is quoted only if it scores at least this share of the passage's best one. */
const RELATIVE_CUTOFF = 0.5;

const segmenter = new Intl.Segmenter('en', { granularity: 'sentence' });

/** One quotable piece of a passage: a sentence of a paragraph, or one list item or table row with its marker. */
interface Unit {
  text: string;
  kind: 'sentence' | 'item';
  /** Paragraph or list the unit belongs to: sentences of one block are quoted on one line. */
  block: number;
  /** Its terms as the lexical index analyzes them (stems, no stopwords). */
  terms: ReadonlySet<string>;
}

const LIST_ITEM = /^\s*(?:[-*+•]|\d{1,3}[.)])\s+\S/u;
const TABLE_RULE = /^\s*\|?\s*:?-{3,}/u;
/** A "field: value" line of a JSON or CSV record (records.ts), which starts a paragraph of its own. */
const RECORD_FIELD = /^[\p{L}\p{N}_.-]{1,40}:\s/u;

/**
 * The quotable units of a passage, in order. Lines are kept apart where they mean something on their own (list
 * items, table rows, record fields, blank-line paragraphs); the wrapped lines of a paragraph are joined and split into
 * sentences. Headings and code blocks are not quoted.
 */
function unitsOf(passage: string): Unit[] {
  const units: Unit[] = [];
  let block = 0;
  let paragraph: string[] = [];
  let item: { text: string; block: number } | undefined;
  const add = (text: string, kind: Unit['kind'], inBlock: number): void => {
    const clean = text.replace(/\s+/gu, ' ').trim();
    if (clean !== '') units.push({ text: clean, kind, block: inBlock, terms: new Set(analyze(clean)) });
  };
  const flushItem = (): void => {
    if (item !== undefined) add(item.text, 'item', item.block);
    item = undefined;
  };
  const flushParagraph = (): void => {
    if (paragraph.length > 0) {
      block += 1;
      // A break inside a word ("as `?lastEventId=`") is not the end of a sentence: only breaks after a space count.
      let sentence = '';
      for (const { segment } of segmenter.segment(paragraph.join(' '))) {
        sentence += segment;
        if (/\s$/u.test(segment)) {
          add(sentence, 'sentence', block);
          sentence = '';
        }
      }
      add(sentence, 'sentence', block);
    }
    paragraph = [];
  };
  const endBlock = (): void => {
    flushItem();
    flushParagraph();
  };
  let inCode = false;
  let inList = false;
  for (const line of passage.split(/\r?\n/u)) {
    if (/^\s*(```|~~~)/u.test(line)) {
      endBlock();
      inCode = !inCode;
      inList = false;
      continue;
    }
    if (inCode) continue;
    if (line.trim() === '' || /^\s{0,3}#{1,6}\s/u.test(line) || TABLE_RULE.test(line)) {
      endBlock();
      inList = false;
      continue;
    }
    const trimmed = line.trim();
    if (LIST_ITEM.test(line) || trimmed.startsWith('|')) {
      flushItem();
      flushParagraph();
      if (!inList) block += 1;
      inList = true;
      item = {
        text: trimmed.startsWith('|')
          ? trimmed
              .replace(/^\||\|$/gu, '')
              .split('|')
              .map((cell) => cell.trim())
              .join(' | ')
          : trimmed,
        block,
      };
      continue;
    }
    if (item !== undefined && /^\s+\S/u.test(line)) {
      // An indented line after an item continues it.
      item.text += ` ${trimmed}`;
      continue;
    }
    flushItem();
    inList = false;
    if (RECORD_FIELD.test(trimmed)) flushParagraph();
    paragraph.push(trimmed);
  }
  endBlock();
  return units;
}

/** How many units of the quoted passages hold each term: a term in every unit tells them apart least. */
function unitFrequencies(passages: readonly (readonly Unit[])[]): {
  counts: Map<string, number>;
  total: number;
} {
  const counts = new Map<string, number>();
  let total = 0;
  for (const units of passages) {
    for (const unit of units) {
      total += 1;
      for (const term of unit.terms) counts.set(term, (counts.get(term) ?? 0) + 1);
    }
  }
  return { counts, total };
}

/**
 * The units that best answer the question, in their original order: each scores the inverse unit frequency of the
 * question terms it holds (a rare term such as "RUN_RETENTION_MS" or "Lyon" counts for more than the topic word every
 * sentence repeats), and only those scoring at least half the best are kept, at most `max`. With no term in common,
 * the passage's first two units.
 */
function pickUnits(
  units: readonly Unit[],
  question: ReadonlySet<string>,
  frequencies: { counts: Map<string, number>; total: number },
  max: number,
): Unit[] {
  const scored = units.map((unit, index) => {
    let score = 0;
    for (const term of question) {
      if (!unit.terms.has(term)) continue;
      score += Math.log(1 + frequencies.total / (frequencies.counts.get(term) ?? 1));
    }
    return { unit, index, score };
  });
  const best = Math.max(0, ...scored.map((entry) => entry.score));
  const chosen =
    best > 0
      ? scored
          .filter((entry) => entry.score >= best * RELATIVE_CUTOFF)
          .sort((a, b) => b.score - a.score || a.index - b.index)
          .slice(0, max)
      : scored.slice(0, Math.min(2, max));
  return chosen.sort((a, b) => a.index - b.index).map((entry) => entry.unit);
}

/** The passage's sentences and list items that best match the question, in their original order. */
export function bestSentences(passage: string, question: string, max = MAX_SENTENCES): string[] {
  const units = unitsOf(passage);
  return pickUnits(units, new Set(analyze(question)), unitFrequencies([units]), max).map((unit) => unit.text);
}

/**
 * A Markdown quote of the chosen units with the citation at its end: sentences of one paragraph on one line, each
 * list item on a line of its own, and an empty quote line between blocks that were not adjacent.
 */
function quote(units: readonly Unit[], citation: string): string {
  const lines: string[] = [];
  let previous: Unit | undefined;
  for (const unit of units) {
    if (
      previous !== undefined &&
      unit.kind === 'sentence' &&
      previous.kind === 'sentence' &&
      previous.block === unit.block
    ) {
      lines[lines.length - 1] += ` ${unit.text}`;
    } else {
      if (previous !== undefined && previous.block !== unit.block) lines.push('');
      lines.push(unit.kind === 'item' && !LIST_ITEM.test(unit.text) ? `- ${unit.text}` : unit.text);
    }
    previous = unit;
  }
  lines[lines.length - 1] += ` ${citation}`;
  return lines.map((line) => (line === '' ? '>' : `> ${line}`)).join('\n');
}

/** Why the answer is quoted: no model is configured (the default), or the configured one failed. */
export type ExtractiveReason = 'no-model' | 'model-unavailable';

export function extractiveAnswer(
  question: string,
  passages: readonly Passage[],
  reason: ExtractiveReason = 'no-model',
): string {
  if (passages.length === 0) return `${EXTRACTIVE_NOTHING_FOUND}\n\n${CONFIGURE_HINT}`;
  const quoted = passages.slice(0, MAX_PASSAGES);
  const units = quoted.map((passage) => unitsOf(passage.text));
  const frequencies = unitFrequencies(units);
  const terms = new Set(analyze(question));
  const blocks = quoted.map((passage, index) => {
    const chosen = pickUnits(units[index] ?? [], terms, frequencies, MAX_SENTENCES);
    const body =
      chosen.length > 0
        ? quote(chosen, `[${index + 1}]`)
        : `> ${passage.text.replace(/\s+/gu, ' ').trim()} [${index + 1}]`;
    return `**[${index + 1}] ${passageTitle(passage)}**\n\n${body}`;
  });
  if (reason === 'model-unavailable') return `${MODEL_UNAVAILABLE_PREAMBLE}\n\n${blocks.join('\n\n')}`;
  return `${EXTRACTIVE_PREAMBLE}\n\n${blocks.join('\n\n')}\n\n${CONFIGURE_HINT}`;
}

function lastQuestion(request: GenerateRequest): string {
  return request.messages.findLast((message) => message.role === 'user')?.content ?? '';
}

export class ExtractiveAnswerer implements LanguageModel {
  readonly provider = 'extractive';
  readonly model = 'none';
  private readonly reason: ExtractiveReason;

  constructor(options: { reason?: ExtractiveReason } = {}) {
    this.reason = options.reason ?? 'no-model';
  }

  async stream(request: GenerateRequest, options: StreamOptions): Promise<void> {
    const text = extractiveAnswer(lastQuestion(request), request.passages ?? [], this.reason);
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
    const text = extractiveAnswer(lastQuestion(request), request.passages ?? [], this.reason);
    return Promise.resolve({ text, usage: { inputTokens: 0, outputTokens: 0 }, finishReason: 'stop' });
  }
}
