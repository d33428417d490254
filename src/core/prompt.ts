// Builds the messages for a grounded answer: instructions, glossary, numbered sources, history, the question.

import type { GlossaryTerm } from './chatbots.ts';
import type { Source } from './events.ts';
import type { ChatMessage } from './provider.ts';
import type { Passage } from './retriever.ts';
import { displaySource, displayTitle, isRecordSource } from './source-names.ts';

export const GROUNDING_INSTRUCTIONS = `Answer the user's question from the numbered sources below.
- Cite the sources you use with their numbers in square brackets, like [1] or [2][3], right after the statement they support.
- If the sources do not contain the answer, say so plainly; do not invent facts or citations.
- Answer in the language of the question.`;

const NO_SOURCES = `No passage in the knowledge base matched this question. Say that the documents do not cover it; answer from general knowledge only if that is clearly useful, and say that you did.`;

/** The longest passage text put into a prompt; longer chunks are cut at a word boundary. */
const MAX_PASSAGE_CHARS = 4000;
/** How much of a passage the client sees as the source's snippet. */
const SNIPPET_CHARS = 300;

/** "Guide > Install" for a passage under "Install" in the document "Guide"; a heading path that already starts with the
 * title (a Markdown H1) is not prefixed twice. */
export function passageTitle(passage: Pick<Passage, 'documentTitle' | 'heading' | 'source'>): string {
  const { heading, source } = passage;
  const documentTitle = displayTitle(passage.documentTitle, source);
  if (heading === '') return documentTitle;
  // A record (a FAQ entry, a row) is named by its own question or name, not by its file.
  if (isRecordSource(source)) return heading;
  if (heading === documentTitle || heading.startsWith(`${documentTitle} > `)) return heading;
  return `${documentTitle} > ${heading}`;
}

/**
 * Every run of whitespace as one space, trimmed: `text.replace(/\s+/gu, ' ').trim()`, but only the runs that change
 * are matched (not every single space between words, which made snippets the costliest part of a sources event).
 */
export function collapseWhitespace(text: string): string {
  return text.replace(/\s{2,}|[^\S ]/gu, ' ').trim();
}

function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const slice = text.slice(0, max);
  const space = slice.lastIndexOf(' ');
  return `${space > max * 0.6 ? slice.slice(0, space) : slice}…`;
}

/**
 * How a passage is shown: its title, where it came from, and the snippet the client sees; and its ids, so that the
 * sources of every answer citing the chunk share these strings (an answer's sources are kept as long as it streams,
 * its passages' own copies are not).
 */
interface PassageFace {
  documentId: string;
  chunkId: string;
  title: string;
  uri: string | undefined;
  snippet: string;
}

/** What a face was worked out from: a passage whose fields are all equal gets the same face. */
interface KnownFace extends PassageFace {
  documentTitle: string;
  source: string;
  heading: string;
  text: string;
}

/**
 * Faces of recently shown passages by chunk id: retrieval returns the same chunks answer after answer, and their
 * titles, sources and snippets took longer to work out than the rest of the sources event. An entry is used only
 * when the passage's fields are those it was made from (a chunk id re-ingested with other text gets a new face).
 */
const faces = new Map<string, KnownFace>();
const MAX_FACES = 1024;

function faceOf(passage: Passage): KnownFace {
  const known = faces.get(passage.chunkId);
  if (
    known !== undefined &&
    known.documentId === passage.documentId &&
    known.text === passage.text &&
    known.heading === passage.heading &&
    known.source === passage.source &&
    known.documentTitle === passage.documentTitle
  ) {
    return known;
  }
  const face: KnownFace = {
    documentId: passage.documentId,
    chunkId: passage.chunkId,
    documentTitle: passage.documentTitle,
    source: passage.source,
    heading: passage.heading,
    text: passage.text,
    title: passageTitle(passage),
    // Never the ingesting machine's directories (sources stored before they were made relative may have them).
    uri: displaySource(passage.source),
    snippet: cut(collapseWhitespace(passage.text), SNIPPET_CHARS),
  };
  if (known === undefined && faces.size >= MAX_FACES) {
    // The oldest entry goes (insertion order).
    for (const oldest of faces.keys()) {
      faces.delete(oldest);
      break;
    }
  }
  faces.set(passage.chunkId, face);
  return face;
}

/** Sources as the client sees them: [1] is sources[0] (numbering starts at `firstNumber` after earlier searches). */
export function toSources(passages: readonly Passage[], firstNumber = 1): Source[] {
  return passages.map((passage, index) => {
    const { documentId, chunkId, title, uri, snippet } = faceOf(passage);
    return {
      id: String(index + firstNumber),
      documentId,
      chunkId,
      title,
      ...(uri === undefined ? {} : { uri }),
      snippet,
      score: Math.round(passage.score * 10_000) / 10_000,
    };
  });
}

/** One passage as the model reads it: its citation number, its title, its text (cut when very long). */
export function formatNumberedPassage(number: number, passage: Passage): string {
  return numberedFace(number, faceOf(passage));
}

/** A face's text is its passage's (faceOf checks): the passage as formatNumberedPassage shows it. */
function numberedFace(number: number, face: KnownFace): string {
  return `[${number}] ${face.title}\n${cut(face.text, MAX_PASSAGE_CHARS)}`;
}

function sourcesBlock(faces: readonly KnownFace[]): string {
  if (faces.length === 0) return NO_SOURCES;
  return faces.map((face, index) => numberedFace(index + 1, face)).join('\n\n');
}

export interface GroundedPromptInput {
  systemPrompt: string | null | undefined;
  history: readonly ChatMessage[];
  question: string;
  passages: readonly Passage[];
  glossary: readonly GlossaryTerm[];
}

/**
 * The grounded prompt. Its system message puts its text together each time it is read (the token budget, each
 * provider call, a retry or failover, the usage estimate) from strings others keep: the chatbot's prompt, the
 * instructions, and the passages' faces, which every answer citing a chunk shares. A stream held for minutes keeps no
 * copy of its own of its prompt (a 3.6 KB string per held stream of the sample corpus). Each read gives the same text.
 */
export function buildGroundedMessages(input: GroundedPromptInput): ChatMessage[] {
  const pieces = systemPieces(GROUNDING_INSTRUCTIONS, input);
  const faces = input.passages.map(faceOf);
  const system = { role: 'system' } as ChatMessage;
  // An own, enumerable property as `content` is everywhere else (JSON.stringify and spreads read it); defined on the
  // object rather than written in its literal, which would make it a dictionary (256 bytes more per held stream).
  Object.defineProperty(system, 'content', {
    enumerable: true,
    get: (): string => `${pieces.join('\n\n')}\n\nSources:\n\n${sourcesBlock(faces)}`,
  });
  return [system, ...turns(input)];
}

export const AGENT_SEARCH_INSTRUCTIONS = `Answer the user's question. To learn what the knowledge base says, call the search_documents tool (you may search more than once, with different words); each passage it returns has a number.
- Cite the passages you use with their numbers in square brackets, like [1] or [2][3], right after the statement they support.
- If the passages do not contain the answer, say so plainly; do not invent facts or citations.
- Answer in the language of the question.`;

/** The prompt of an answer that searches with a tool: instructions, glossary, the history and the question. */
export function buildAgentMessages(input: Omit<GroundedPromptInput, 'passages'>): ChatMessage[] {
  return [
    { role: 'system', content: systemPieces(AGENT_SEARCH_INSTRUCTIONS, input).join('\n\n') },
    ...turns(input),
  ];
}

/** The system message's parts: the chatbot's own prompt, the instructions, the glossary. */
function systemPieces(instructions: string, input: Omit<GroundedPromptInput, 'passages'>): string[] {
  const system: string[] = [];
  if (input.systemPrompt !== null && input.systemPrompt !== undefined && input.systemPrompt.trim() !== '') {
    system.push(input.systemPrompt.trim());
  }
  system.push(instructions);
  if (input.glossary.length > 0) {
    system.push(
      `Glossary (use these meanings):\n${input.glossary.map((entry) => `- ${entry.term}: ${entry.definition}`).join('\n')}`,
    );
  }
  return system;
}

/** The history, then the question. */
function turns(input: Pick<GroundedPromptInput, 'history' | 'question'>): ChatMessage[] {
  return [
    ...input.history.filter((message) => message.content !== ''),
    { role: 'user', content: input.question },
  ];
}

export const CONDENSE_INSTRUCTIONS = `Rewrite the user's last message as one standalone question that can be understood without the conversation, keeping names, numbers and the user's language. Reply with the question only.`;

/** Messages for the query-enhancement call: the recent turns as a transcript, then the follow-up. */
export function buildCondenseMessages(history: readonly ChatMessage[], question: string): ChatMessage[] {
  const transcript = history
    .filter((message) => message.role !== 'system' && message.content !== '')
    .slice(-6)
    .map((message) => `${message.role === 'user' ? 'User' : 'Assistant'}: ${cut(message.content, 1200)}`)
    .join('\n');
  return [
    { role: 'system', content: CONDENSE_INSTRUCTIONS },
    { role: 'user', content: `Conversation:\n${transcript}\n\nLast message: ${question}` },
  ];
}
