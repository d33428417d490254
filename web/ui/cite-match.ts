// Which part of a cited source an answer's statement rests on: the source's sentence that shares the most words with
// the statement before the citation. The citation preview highlights it, and the passage view opened from it too.

/** Words worth matching on: letters and digits, three characters or more, lower case. */
function words(text: string): Set<string> {
  return new Set((text.toLowerCase().match(/[\p{L}\p{N}_]{3,}/gu) ?? []).filter((word) => !STOP.has(word)));
}

const STOP = new Set([
  'the',
  'and',
  'for',
  'with',
  'that',
  'this',
  'from',
  'are',
  'was',
  'its',
  'not',
  'but',
]);

/** Sentences of a text, each with the spaces after it, so that joined they give the text back. */
export function sentences(text: string): string[] {
  // Lazy up to a stop followed by a space (or the end): "e.g." or "a.b" inside a sentence do not end it, and every
  // character belongs to exactly one sentence.
  return text.match(/[\s\S]+?(?:[.!?]+(?=\s|$)\s*|$)/gu) ?? [];
}

/** The statement a citation at `end` of `text` stands for: its sentence up to the citation, without other citations. */
export function statementBefore(text: string, end: number): string {
  const before = text.slice(0, end).replace(/(?:\s*\[\d{1,3}\])+\s*$/u, '');
  const start = Math.max(before.lastIndexOf('. '), before.lastIndexOf('! '), before.lastIndexOf('? '));
  return before
    .slice(start + 1)
    .replace(/\s*\[\d{1,3}\]/gu, '')
    .trim();
}

export interface MarkedText {
  before: string;
  mark: string;
  after: string;
}

/**
 * `text` split around the sentence sharing the most words with `statement` (ties: the first); `mark` is empty when no
 * sentence shares a word, so nothing is highlighted that the statement does not rest on.
 */
export function markCited(text: string, statement: string): MarkedText {
  const wanted = words(statement);
  const parts = sentences(text);
  let best = -1;
  let bestScore = 0;
  parts.forEach((part, index) => {
    let score = 0;
    for (const word of words(part)) if (wanted.has(word)) score++;
    if (score > bestScore) {
      best = index;
      bestScore = score;
    }
  });
  if (best === -1) return { before: text, mark: '', after: '' };
  const mark = (parts[best] ?? '').trimEnd();
  const before = parts.slice(0, best).join('');
  return { before, mark, after: text.slice(before.length + mark.length) };
}
