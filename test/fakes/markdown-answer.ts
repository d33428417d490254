// The fake upstream's demo answer (FAKE_ANSWER=markdown, scenario `answer: 'markdown'`): a realistic Markdown answer
// built from the request itself, so a demo shows headings, a list, a table and a code block streaming in, with [n]
// citations that match the numbered sources Rivulet put in the system prompt (src/core/prompt.ts). A request to
// condense a follow-up (buildCondenseMessages) gets a short standalone question instead, as a real model gives.

import { isRecord } from './wire-format.ts';

/** One numbered source as the grounded prompt lists it: "[n] title\ntext". */
export interface PromptSource {
  number: number;
  title: string;
  text: string;
}

/** Text of a message's content: a string, or the text parts of a content array (OpenAI parts, Anthropic blocks). */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return (content as unknown[])
    .map((part) => (isRecord(part) && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

function messagesOf(body: Record<string, unknown>): { role: string; text: string }[] {
  const messages = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
  return messages.flatMap((message) =>
    isRecord(message) && typeof message.role === 'string'
      ? [{ role: message.role, text: contentText(message.content) }]
      : [],
  );
}

/** The system prompt: Anthropic's top-level `system`, or the system messages (OpenAI, Ollama). */
export function systemPromptOf(body: Record<string, unknown>): string {
  const top = contentText(body.system);
  const inMessages = messagesOf(body)
    .filter((message) => message.role === 'system')
    .map((message) => message.text);
  return [top, ...inMessages].filter((text) => text !== '').join('\n\n');
}

/** The last user message, which for a grounded answer is the question. */
export function lastUserMessage(body: Record<string, unknown>): string {
  return (
    messagesOf(body)
      .filter((message) => message.role === 'user')
      .at(-1)?.text ?? ''
  );
}

/**
 * The numbered sources of a grounded prompt, in order. buildGroundedMessages writes "Sources:\n\n", then one entry per
 * passage, "[n] title\ntext", separated by blank lines; an entry is only taken when its number is the next one, so
 * a passage that itself contains "[3] ..." after a blank line is not mistaken for a source.
 */
export function parsePromptSources(systemPrompt: string): PromptSource[] {
  const marker = systemPrompt.lastIndexOf('Sources:\n\n');
  if (marker < 0) return [];
  const block = systemPrompt.slice(marker + 'Sources:\n\n'.length);
  const sources: PromptSource[] = [];
  for (const part of block.split(/\n\n(?=\[\d+\] )/u)) {
    const match = /^\[(\d+)\] ([^\n]*)\n?([\s\S]*)$/u.exec(part);
    if (match === null) continue;
    const number = Number(match[1]);
    if (number === sources.length + 1) {
      sources.push({ number, title: (match[2] ?? '').trim(), text: (match[3] ?? '').trim() });
    } else if (sources.length > 0) {
      // Not a new source: the previous passage went on after a blank line.
      const previous = sources[sources.length - 1]!;
      previous.text += `\n\n${part}`;
    }
  }
  return sources;
}

/** "Last message: ..." of a condense request (buildCondenseMessages), or undefined for any other request. */
export function condenseRequest(
  body: Record<string, unknown>,
): { question: string; previousQuestion: string | undefined } | undefined {
  const last = lastUserMessage(body);
  if (!last.startsWith('Conversation:\n')) return undefined;
  const at = last.lastIndexOf('\n\nLast message: ');
  if (at < 0) return undefined;
  const question = last.slice(at + '\n\nLast message: '.length).trim();
  const userLines = last
    .slice(0, at)
    .split('\n')
    .filter((line) => line.startsWith('User: '));
  return { question, previousQuestion: userLines.at(-1)?.slice('User: '.length).trim() };
}

/**
 * At most `max` words from the start of a passage (its first sentence, or two when the first is very short), with
 * Markdown block markers and line breaks removed and inline code kept balanced.
 */
function gist(text: string, max: number): string {
  const flat = text
    .replace(/```[\s\S]*?(```|$)/gu, ' ')
    .replace(/^\s*(#+|[-*+]|\d+[.)]|>|\|)\s*/gmu, '')
    .replace(/[*|]/gu, '')
    .replace(/\s+/gu, ' ')
    .trim();
  const sentences = flat.split(/(?<=[.!?])\s+/u);
  let words: string[] = [];
  for (const sentence of sentences) {
    words = [...words, ...sentence.split(' ').filter((word) => word !== '')];
    if (words.length >= 6) break;
  }
  let cut = words
    .slice(0, max)
    .join(' ')
    .replace(/[.,;:!?]+$/u, '');
  if ((cut.match(/`/gu) ?? []).length % 2 === 1) cut += '`';
  if (cut === '') return 'no text';
  return words.length > max ? `${cut}...` : cut;
}

/** A table cell: no pipes or line breaks. */
function cell(text: string): string {
  return text.replace(/\|/gu, '/').replace(/\s+/gu, ' ').trim();
}

/** The question quoted inside single-quoted JSON in a shell command. */
function shellJson(question: string): string {
  return JSON.stringify({ message: question.replace(/'/gu, '’').replace(/\s+/gu, ' ').trim() });
}

/** A section showing the curl command that asks this question. */
function askFromCode(question: string): string {
  return `## Ask it from code

\`\`\`sh
curl -N http://127.0.0.1:3000/api/chat/stream \\
  -H 'content-type: application/json' \\
  -d '${shellJson(question)}'
\`\`\`
`;
}

const CLOSING = `_Written by Rivulet's fake upstream (\`npm run fake-upstream\`), not by a language model: it restates the first words of each source so that the citations can be checked against the sources panel._`;

const TRY_IT = `## Try it

1. Press **Stop** while this answer is still streaming: the request to the upstream is aborted at once, and the text so far is kept as a stopped answer.
2. Reload the page in the middle of an answer: the stream resumes from the last event it received, without asking the model again.
3. Ask a follow-up question: it is first rewritten into a standalone question, then searched, then answered with the conversation so far.`;

function groundedAnswer(question: string, sources: readonly PromptSource[]): string {
  const first = sources[0]!;
  const second = sources[1];
  const all = sources.map((source) => `[${source.number}]`).join('');
  const summary =
    `From the documents: ${gist(first.text, 24)} [1].` +
    (second === undefined ? '' : ` It also notes: "${gist(second.text, 20)}" [2].`);
  const list = sources
    .map((source) => `- **${source.title}**: ${gist(source.text, 12)} [${source.number}]`)
    .join('\n');
  const rows = sources
    .map(
      (source) =>
        `| [${source.number}] | ${cell(source.title)} | ${source.text.split(/\s+/u).length} words |`,
    )
    .join('\n');
  return `## Short answer

${summary}

## What the sources say

${list}

Each point above comes from the numbered passage it cites ${all}; nothing here goes beyond what those passages say, and a point that no passage supports is left out rather than guessed.

## Sources at a glance

| source | title | length |
| --- | --- | --- |
${rows}

${askFromCode(question)}
The stream sends the sources first, then the answer in small pieces, then one final \`done\` event with the whole text and its timings.

${TRY_IT}

${CLOSING}`;
}

function ungroundedAnswer(question: string): string {
  return `## Not in the documents

No passage in the knowledge base matches "${question.replace(/\s+/gu, ' ').trim()}", so there is nothing to cite. Add documents that cover it (upload them in the web app, or run \`npx rivulet ingest <files>\`) and ask again.

## What a grounded answer looks like

- It starts with a **short answer** in one or two sentences.
- Each statement ends with the number of the passage it comes from, in square brackets.
- The sources arrive before the first word, so the panel can show them while the answer streams.

| part | arrives | shows |
| --- | --- | --- |
| sources | before the first token | titles, snippets and scores |
| tokens | as they are written | the answer, rendered as Markdown |
| done | once, at the end | the whole text, usage and timings |

${askFromCode(question)}
${TRY_IT}

${CLOSING}`;
}

/** The text the markdown mode answers this request with. */
export function markdownAnswerText(body: Record<string, unknown>): string {
  const condense = condenseRequest(body);
  if (condense !== undefined) {
    // What a model would make of "and on Linux?": the follow-up with the topic of the previous question.
    const { question, previousQuestion } = condense;
    return previousQuestion === undefined || previousQuestion === question
      ? question
      : `${question.replace(/[?.!]+$/u, '')} (about: ${previousQuestion.replace(/[?.!]+$/u, '')})?`;
  }
  const question = lastUserMessage(body);
  const sources = parsePromptSources(systemPromptOf(body));
  return sources.length === 0 ? ungroundedAnswer(question) : groundedAnswer(question, sources);
}

/**
 * Splits text into model-like tokens: a word with the spaces before it, one punctuation mark, or a run of line
 * breaks. Joined, the tokens give back the text exactly.
 */
export function tokenize(text: string): string[] {
  return text.match(/\n+|[ \t]*[\p{L}\p{N}_]+|[ \t]*[^\p{L}\p{N}_\s]|[ \t]+|\s/gu) ?? [];
}

export function markdownAnswerTokens(body: Record<string, unknown>): string[] {
  return tokenize(markdownAnswerText(body));
}
