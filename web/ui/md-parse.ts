// A Markdown parser for streamed answers: the GFM subset models write (headings, paragraphs, lists, fenced code,
// tables, quotes, rules; strong, emphasis, strikethrough, code, links, autolinks, hard breaks), into a small tree
// the renderer turns into elements. Hand-written rather than marked because the widget has a 30 KB gzip budget
// and marked's lexer alone is 15 KB of it; and because a streamed answer is mostly unfinished Markdown, which
// this parser treats on purpose: with `streaming`, emphasis and code left open at the end are closed there and a
// lone trailing marker is hidden, so `**bol` shows as bold text instead of flashing asterisks; and what would show as
// something it is not yet is held back (a table before its delimiter row, a row before its line ends, a code fence
// with nothing in it yet), so nothing flashes and then jumps.

export type Inline =
  | { type: 'text'; text: string }
  | { type: 'code'; text: string }
  | { type: 'strong' | 'em' | 'del'; children: Inline[] }
  | { type: 'link'; href: string; children: Inline[] }
  | { type: 'br' };

export type Align = 'left' | 'center' | 'right' | null;

export type Block =
  | { type: 'heading'; raw: string; depth: number; content: Inline[] }
  | { type: 'paragraph'; raw: string; content: Inline[] }
  | { type: 'code'; raw: string; lang: string; text: string }
  | { type: 'list'; raw: string; ordered: boolean; start: number; items: Block[][] }
  | { type: 'table'; raw: string; align: Align[]; header: Inline[][]; rows: Inline[][][] }
  | { type: 'quote'; raw: string; blocks: Block[] }
  | { type: 'hr'; raw: string };

// A backtick fence's info string may not contain a backtick (CommonMark), so "```js```" is inline code, not a
// fence that swallows the rest of the answer.
const FENCE = /^ {0,3}(`{3,}(?=[^`]*$)|~{3,})\s*([^\s`]*)/;
// The closing `#`s are stripped by headingText(): a regex doing both backtracked quadratically on whitespace.
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*))?$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}> ?/;
const ITEM = /^( {0,3})([-*+]|\d{1,9}[.)])([ \t]+|$)/;
// No two adjacent `[ \t]*` (they made "---" + 20,000 spaces + "x" backtrack quadratically).
const DELIMITER_ROW = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*(?:\|[ \t]*)?$/;
// Deeper quotes, lists and emphasis are read as text: each level is a recursive call (">>>>…" overflowed the
// stack) and re-reads its content. Answers never nest anywhere near this deep.
const MAX_DEPTH = 20;

/** Parses Markdown into blocks. `streaming` marks text that is still being written (its end is unfinished). */
export function parseMarkdown(source: string, streaming = false): Block[] {
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  return parseBlocks(streaming ? withoutUnfinishedTable(lines) : lines, streaming, 0);
}

const PIPE_LINE = /^ {0,3}\|/;
const CLOSING_FENCE = /^ {0,3}(`{3,}|~{3,})[ \t]*$/;

/**
 * The lines of a streaming answer without the end of a table still being written, as streaming Markdown renderers
 * do: a header line (and its delimiter row) is held back until the delimiter row has ended, so `| a | b` never
 * shows as a paragraph that turns into a table a moment later; a body row is held back until its line has ended, so
 * the columns settle once per row instead of at every token. The last line has not ended (the text has no newline
 * after it). Only tables written with a leading pipe, as models write them, and never inside a code fence.
 */
export function withoutUnfinishedTable(lines: string[]): string[] {
  if (endsInOpenFence(lines)) return lines;
  const last = lines.length - 1;
  let end = last;
  if ((lines[end] ?? '') === '') end--;
  let start = end + 1;
  while (start > 0 && PIPE_LINE.test(lines[start - 1] ?? '')) start--;
  if (start > end) return lines;
  const delimiter = lines[start + 1];
  const delimiterEnded = start + 1 < last;
  if (delimiter === undefined || !delimiterEnded) return heldBack(lines, start);
  const isTable =
    DELIMITER_ROW.test(delimiter) &&
    delimiter.includes('-') &&
    splitRow(delimiter).length === splitRow(lines[start] ?? '').length;
  if (!isTable) return lines;
  return end === last && end > start + 1 ? heldBack(lines, end) : lines;
}

/** Lines before `from`, the last of them ended (an empty line after it). */
function heldBack(lines: string[], from: number): string[] {
  return from === 0 ? [] : [...lines.slice(0, from), ''];
}

/** Whether the text ends inside a fenced code block (whose lines are code, whatever they look like). */
function endsInOpenFence(lines: string[]): boolean {
  let open: string | undefined;
  for (const line of lines) {
    if (open === undefined) {
      const fence = FENCE.exec(line);
      if (fence !== null) open = fence[1] ?? '```';
      continue;
    }
    const closing = CLOSING_FENCE.exec(line);
    if (closing !== null && closing[1]?.[0] === open[0] && (closing[1]?.length ?? 0) >= open.length) {
      open = undefined;
    }
  }
  return open !== undefined;
}

/**
 * Whether a block ending before line `end` may still grow: nothing follows it, or only the last line, blank so
 * far (a paragraph ends at a blank line, and that one may still get text: "Some **bol\n" keeps its bold open).
 */
function openAt(lines: string[], end: number, streaming: boolean): boolean {
  return streaming && (end >= lines.length || (end === lines.length - 1 && (lines[end] ?? '').trim() === ''));
}

function parseBlocks(lines: string[], streaming: boolean, depth: number): Block[] {
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? '';
    if (line.trim() === '') {
      i++;
      continue;
    }
    const start = i;
    const isLast = (end: number): boolean => streaming && end >= lines.length;
    const fence = FENCE.exec(line);
    if (fence !== null) {
      const marker = fence[1] ?? '```';
      const body: string[] = [];
      let closed = false;
      i++;
      while (i < lines.length) {
        const current = lines[i] ?? '';
        const closing = CLOSING_FENCE.exec(current);
        if (closing !== null && closing[1]?.[0] === marker[0] && (closing[1]?.length ?? 0) >= marker.length) {
          i++;
          closed = true;
          break;
        }
        body.push(current);
        i++;
      }
      const text = body.join('\n');
      // A fence just opened shows nothing until its first character of code: an empty box would appear, then
      // grow (a layout shift), and the language being typed after the backticks would flicker in its label.
      if (!closed && streaming && text.trim() === '') continue;
      blocks.push({ type: 'code', raw: raw(lines, start, i), lang: fence[2] ?? '', text });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading !== null) {
      i++;
      const content = parseInline(headingText(heading[2] ?? ''), isLast(i));
      blocks.push({ type: 'heading', raw: line, depth: heading[1]?.length ?? 1, content });
      continue;
    }
    if (RULE.test(line)) {
      i++;
      blocks.push({ type: 'hr', raw: line });
      continue;
    }
    if (depth < MAX_DEPTH && QUOTE.test(line)) {
      const inner: string[] = [];
      while (i < lines.length && QUOTE.test(lines[i] ?? ''))
        inner.push((lines[i++] ?? '').replace(QUOTE, ''));
      blocks.push({
        type: 'quote',
        raw: raw(lines, start, i),
        blocks: parseBlocks(inner, openAt(lines, i, streaming), depth + 1),
      });
      continue;
    }
    const item = ITEM.exec(line);
    if (depth < MAX_DEPTH && item !== null) {
      const list = parseList(lines, i, streaming, depth);
      blocks.push(list.block);
      i = list.end;
      continue;
    }
    const next = lines[i + 1];
    if (line.includes('|') && next !== undefined && DELIMITER_ROW.test(next) && next.includes('-')) {
      const header = splitRow(line);
      const align = splitRow(next).map(alignOf);
      if (align.length === header.length) {
        i += 2;
        const rows: string[][] = [];
        while (i < lines.length && (lines[i] ?? '').includes('|') && (lines[i] ?? '').trim() !== '') {
          rows.push(splitRow(lines[i++] ?? ''));
        }
        const last = isLast(i);
        blocks.push({
          type: 'table',
          raw: raw(lines, start, i),
          align,
          header: header.map((cell) => parseInline(cell, false)),
          rows: rows.map((row, index) =>
            align.map((_, column) => parseInline(row[column] ?? '', last && index === rows.length - 1)),
          ),
        });
        continue;
      }
    }
    const paragraph: string[] = [];
    while (i < lines.length) {
      const current = lines[i] ?? '';
      if (current.trim() === '' || (paragraph.length > 0 && interrupts(current, lines[i + 1]))) break;
      paragraph.push(current);
      i++;
    }
    const text = paragraph.map((part) => part.replace(/^[ \t]+/, '')).join('\n');
    const content = parseInline(text, openAt(lines, i, streaming));
    blocks.push({ type: 'paragraph', raw: raw(lines, start, i), content });
  }
  return blocks;
}

/** Lines that end a paragraph without a blank line before them. */
function interrupts(line: string, next: string | undefined): boolean {
  if (FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line)) return true;
  const item = ITEM.exec(line);
  if (item !== null && line.slice(item[0].length).trim() !== '') {
    // An ordered item interrupts a paragraph only when it starts at 1 (CommonMark), so "2019. was a year" does not.
    return !/^\d/.test(item[2] ?? '') || /^1[.)]/.test(item[2] ?? '');
  }
  return line.includes('|') && next !== undefined && DELIMITER_ROW.test(next) && next.includes('-');
}

/** Heading content without its optional closing sequence of `#`s (which must follow a space, or be all of it). */
function headingText(content: string): string {
  // Loops, not /[ \t]+$/ or /#+$/: unanchored at the start, those retry from every position of a long run.
  const text = content.slice(0, trailing(content, content.length, ' \t'));
  const end = trailing(text, text.length, '#');
  if (end === 0) return '';
  return end < text.length && /[ \t]/.test(text[end - 1] ?? '')
    ? text.slice(0, trailing(text, end, ' \t'))
    : text;
}

/** Where the run of `chars` ending at `end` in `text` begins. */
function trailing(text: string, end: number, chars: string): number {
  let start = end;
  while (start > 0 && chars.includes(text[start - 1] ?? '')) start--;
  return start;
}

function parseList(
  lines: string[],
  from: number,
  streaming: boolean,
  depth: number,
): { block: Block; end: number } {
  const first = ITEM.exec(lines[from] ?? '');
  const ordered = /^\d/.test(first?.[2] ?? '');
  const bullet = ordered ? (first?.[2] ?? '').slice(-1) : (first?.[2] ?? '-');
  const items: string[][] = [];
  let i = from;
  let current: string[] | undefined;
  // Infinite until the first item sets it, so that a first item indented 2-3 spaces is taken as an item (it was
  // taken as indented content of no item, and dropped).
  let contentIndent = Number.POSITIVE_INFINITY;
  while (i < lines.length) {
    const line = lines[i] ?? '';
    const item = ITEM.exec(line);
    const sameList =
      item !== null &&
      (item[1]?.length ?? 0) < contentIndent &&
      (ordered ? /^\d/.test(item[2] ?? '') && (item[2] ?? '').endsWith(bullet) : item[2] === bullet);
    if (sameList) {
      contentIndent =
        (item[1]?.length ?? 0) + (item[2]?.length ?? 0) + Math.min(4, Math.max(1, item[3]?.length ?? 1));
      current = [line.slice(item[0].length)];
      items.push(current);
      i++;
      continue;
    }
    if (line.trim() === '') {
      // A blank line continues the list only when more of it (indented content or a next item) follows. The whole
      // run of blank lines is taken at once: looking ahead from each of them was quadratic.
      let after = i + 1;
      while (after < lines.length && (lines[after] ?? '').trim() === '') after++;
      const next = lines[after];
      if (next === undefined || !(indentOf(next) >= contentIndent || isSameItem(next, ordered, bullet)))
        break;
      for (; i < after; i++) current?.push('');
      continue;
    }
    if (indentOf(line) >= contentIndent) {
      current?.push(dedent(line, contentIndent));
      i++;
      continue;
    }
    // Lazy continuation of an item's paragraph.
    const lastLine = current?.at(-1);
    if (
      lastLine !== undefined &&
      lastLine.trim() !== '' &&
      !interrupts(line, lines[i + 1]) &&
      item === null
    ) {
      current?.push(line.trim());
      i++;
      continue;
    }
    break;
  }
  const start = ordered ? Number.parseInt(first?.[2] ?? '1', 10) : 1;
  const open = openAt(lines, i, streaming);
  return {
    block: {
      type: 'list',
      raw: raw(lines, from, i),
      ordered,
      start,
      items: items.map((content, index) =>
        parseBlocks(content, open && index === items.length - 1, depth + 1),
      ),
    },
    end: i,
  };
}

function isSameItem(line: string, ordered: boolean, bullet: string): boolean {
  const item = ITEM.exec(line);
  if (item === null) return false;
  return ordered ? /^\d/.test(item[2] ?? '') : item[2] === bullet;
}

function indentOf(line: string): number {
  let width = 0;
  for (const char of line) {
    if (char === ' ') width++;
    else if (char === '\t') width += 4 - (width % 4);
    else break;
  }
  return width;
}

/**
 * `line` without its first `width` columns of indentation. Tabs count to the next multiple of 4 columns, as in
 * indentOf(): slicing `width` characters cut into the content of tab-indented lines ("\t- b" lost its "- ").
 */
function dedent(line: string, width: number): string {
  let column = 0;
  let index = 0;
  while (column < width && index < line.length) {
    const char = line[index];
    if (char === ' ') column++;
    else if (char === '\t') {
      const next = column + 4 - (column % 4);
      // A tab that straddles the cut leaves its remaining columns as spaces.
      if (next > width) return ' '.repeat(next - width) + line.slice(index + 1);
      column = next;
    } else break;
    index++;
  }
  return line.slice(index);
}

function raw(lines: string[], start: number, end: number): string {
  return lines.slice(start, end).join('\n');
}

/** Cells of a table row: split at pipes that are neither escaped nor inside code. */
function splitRow(line: string): string[] {
  let text = line.trim();
  if (text.startsWith('|')) text = text.slice(1);
  if (text.endsWith('|') && !text.endsWith('\\|')) text = text.slice(0, -1);
  const cells: string[] = [];
  let cell = '';
  let inCode = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '\\' && text[i + 1] === '|') {
      cell += '|';
      i++;
    } else if (char === '`') {
      inCode = !inCode;
      cell += char;
    } else if (char === '|' && !inCode) {
      cells.push(cell.trim());
      cell = '';
    } else cell += char;
  }
  cells.push(cell.trim());
  return cells;
}

function alignOf(cell: string): Align {
  const left = cell.startsWith(':');
  const right = cell.endsWith(':');
  return left && right ? 'center' : right ? 'right' : left ? 'left' : null;
}

const PUNCTUATION = /[\s\p{P}\p{S}]/u;

/**
 * Inline Markdown. `open` is true for the text at the very end of a streaming answer: there, a run of emphasis or
 * code that has not been closed yet is shown closed, and a marker with nothing after it is hidden.
 */
export function parseInline(text: string, open = false): Inline[] {
  return inline(text, open, 0);
}

/** parseInline() at a nesting `depth` (emphasis and link labels inside others). */
function inline(text: string, open: boolean, depth: number): Inline[] {
  const out: Inline[] = [];
  // Where each emphasis marker's scan for a closer ends, by start position: see findCloser().
  const closers = new Map<string, Int32Array>();
  let buffer = '';
  // Text is flushed at every line end and joins the text node before it, so `buffer` holds at most one line: the
  // checks of its end below flattened (copied) the whole paragraph's text at every line, which was quadratic.
  const append = (node: Inline): void => {
    const last = out.at(-1);
    if (node.type === 'text' && last?.type === 'text') last.text += node.text;
    else out.push(node);
  };
  const flush = (): void => {
    if (buffer !== '') append({ type: 'text', text: decodeEntities(buffer) });
    buffer = '';
  };
  let i = 0;
  while (i < text.length) {
    const char = text[i] ?? '';
    const rest = text.slice(i);
    if (char === '\\' && i + 1 < text.length) {
      const next = text[i + 1] ?? '';
      if (next === '\n') {
        flush();
        out.push({ type: 'br' });
      } else if (/[!-/:-@[-`{-~]/.test(next)) buffer += next;
      else buffer += `\\${next}`;
      i += 2;
      continue;
    }
    if (char === '\n') {
      if (buffer.endsWith('  ')) {
        buffer = buffer.trimEnd();
        flush();
        out.push({ type: 'br' });
      } else {
        buffer = `${buffer.trimEnd()}\n`;
        flush();
      }
      i++;
      while (text[i] === ' ') i++;
      continue;
    }
    if (char === '`') {
      const ticks = /^`+/.exec(rest)?.[0] ?? '`';
      const close = findCodeClose(text, i + ticks.length, ticks.length);
      if (close !== -1 || open) {
        const end = close === -1 ? text.length : close;
        const code = text.slice(i + ticks.length, end).replace(/\n/g, ' ');
        const trimmed = /^ .* $/.test(code) && code.trim() !== '' ? code.slice(1, -1) : code;
        flush();
        if (trimmed !== '' || close !== -1) out.push({ type: 'code', text: trimmed });
        i = close === -1 ? text.length : close + ticks.length;
        continue;
      }
      buffer += ticks;
      i += ticks.length;
      continue;
    }
    if (char === '*' || char === '_' || char === '~') {
      const run = (char === '~' ? /^~~/ : char === '*' ? /^\*+/ : /^_+/).exec(rest)?.[0];
      const emphasis = run === undefined ? undefined : delimited(text, i, run, open, depth, closers);
      if (emphasis !== undefined) {
        flush();
        out.push(...emphasis.nodes);
        i = emphasis.end;
        continue;
      }
      // A lone "~" last in open text may be the first half of "~~": hidden like the other trailing markers.
      if (run === undefined && open && i + 1 === text.length) break;
      const literal = run ?? char;
      buffer += literal;
      i += literal.length;
      continue;
    }
    if (char === '!' && text[i + 1] === '[') {
      const link = linkAt(text, i + 1);
      if (link !== undefined) {
        flush();
        // Images are not loaded from model output (they would call any host): shown as a link to the image.
        const label = link.label === '' ? link.href : link.label;
        const href = safeHref(link.href);
        if (href === undefined) append({ type: 'text', text: label });
        else out.push({ type: 'link', href, children: [{ type: 'text', text: label }] });
        i = link.end;
        continue;
      }
    }
    if (char === '[') {
      const link = linkAt(text, i);
      if (link !== undefined) {
        flush();
        const href = safeHref(link.href);
        const children = inline(link.label, false, depth + 1);
        if (href === undefined) children.forEach(append);
        else out.push({ type: 'link', href, children });
        i = link.end;
        continue;
      }
    }
    if (char === '<') {
      const auto = /^<((?:https?:\/\/|mailto:)[^\s<>]+)>/i.exec(rest);
      if (auto?.[1] !== undefined) {
        flush();
        out.push({
          type: 'link',
          href: auto[1],
          children: [{ type: 'text', text: auto[1].replace(/^mailto:/i, '') }],
        });
        i += auto[0].length;
        continue;
      }
    }
    if ((char === 'h' || char === 'w') && (i === 0 || /[\s(*_~]/.test(text[i - 1] ?? ''))) {
      const bare = /^(?:https?:\/\/|www\.)[^\s<]*[^\s<?!.,:*_~)'"]/i.exec(rest);
      if (bare !== null) {
        flush();
        const href = bare[0].startsWith('www.') ? `https://${bare[0]}` : bare[0];
        out.push({ type: 'link', href, children: [{ type: 'text', text: bare[0] }] });
        i += bare[0].length;
        continue;
      }
    }
    buffer += char;
    i++;
  }
  flush();
  return out;
}

function findCodeClose(text: string, from: number, length: number): number {
  let i = from;
  while (i < text.length) {
    const next = text.indexOf('`', i);
    if (next === -1) return -1;
    const run = /^`+/.exec(text.slice(next))?.[0].length ?? 1;
    if (run === length) return next;
    i = next + run;
  }
  return -1;
}

/** Strong (`**`, `__`), emphasis (`*`, `_`) or strikethrough (`~~`) starting at `i`, if it closes (or may, when open). */
function delimited(
  text: string,
  i: number,
  run: string,
  open: boolean,
  depth: number,
  closers: Map<string, Int32Array>,
): { nodes: Inline[]; end: number } | undefined {
  const char = run[0] ?? '*';
  const size = char === '~' ? 2 : Math.min(run.length, 3);
  const after = text[i + size];
  const before = i === 0 ? ' ' : (text[i - 1] ?? ' ');
  // A left-flanking run: followed by a non-space; for "_", not inside a word (snake_case stays text).
  if (after === undefined) {
    return open && i + run.length === text.length ? { nodes: [], end: text.length } : undefined;
  }
  if (/\s/.test(after)) return undefined;
  if (char === '_' && !PUNCTUATION.test(before)) return undefined;
  if (depth >= MAX_DEPTH) return undefined;
  const close = findCloser(text, i + size, char, size, closers);
  if (close === -1 && !open) return undefined;
  const inner = text.slice(i + size, close === -1 ? text.length : close);
  const children = inline(inner, close === -1, depth + 1);
  const end = close === -1 ? text.length : close + size;
  if (char === '~') return { nodes: [{ type: 'del', children }], end };
  if (size === 3) return { nodes: [{ type: 'strong', children: [{ type: 'em', children }] }], end };
  return { nodes: [{ type: size === 2 ? 'strong' : 'em', children }], end };
}

const UNKNOWN = -2;

/**
 * Where a closing `size` × `char` is found scanning from `from` (skipping code spans and escapes), or -1.
 * The scan's next step depends only on the position, so every position one scan passes through has the same
 * answer: remembering it per marker in `closers` makes "*a *a *a …" (no opener ever closes) linear instead of
 * one scan to the end per opener (1.3 s for 20,000 characters).
 */
function findCloser(
  text: string,
  from: number,
  char: string,
  size: number,
  closers: Map<string, Int32Array>,
): number {
  const marker = char.repeat(size);
  let known = closers.get(marker);
  if (known === undefined) {
    known = new Int32Array(text.length).fill(UNKNOWN);
    closers.set(marker, known);
  }
  const path: number[] = [];
  let close = -1;
  let j = from;
  while (j < text.length) {
    const seen = known[j] ?? UNKNOWN;
    if (seen !== UNKNOWN) {
      close = seen;
      break;
    }
    path.push(j);
    const c = text[j];
    if (c === '`') {
      const ticks = /^`+/.exec(text.slice(j))?.[0].length ?? 1;
      const end = findCodeClose(text, j + ticks, ticks);
      // An unclosed run is skipped whole, as inline() reads it (stepping one backtick at a time re-searched the
      // rest of the text for each shorter run).
      j = end === -1 ? j + ticks : end + ticks;
      continue;
    }
    if (c === '\\') {
      j += 2;
      continue;
    }
    if (text.startsWith(marker, j) && !/\s/.test(text[j - 1] ?? ' ')) {
      const following = text[j + size];
      // "**a*b**": a single "*" inside strong is not its closer.
      const doubled = size === 1 && text[j + 1] === char && char !== '~';
      if (!doubled && !(char === '_' && following !== undefined && !PUNCTUATION.test(following))) {
        close = j;
        break;
      }
      j += doubled ? 2 : 1;
      continue;
    }
    j++;
  }
  for (const position of path) known[position] = close;
  return close;
}

/**
 * `[label](href "title")` at `i`; nested brackets in the label are allowed one level deep. A nested `[...]` may
 * not contain `[`: it could, and then every `[` of "[[[[…" searched the rest of the text for a `]` (0.8 s for
 * 20,000 of them).
 */
function linkAt(text: string, i: number): { label: string; href: string; end: number } | undefined {
  const match =
    /^\[((?:[^[\]\\]|\\.|\[[^[\]]*\])*)\]\(\s*<?([^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)>?(?:\s+"[^"]*")?\s*\)/.exec(
      text.slice(i),
    );
  if (match === null) return undefined;
  return { label: match[1] ?? '', href: match[2] ?? '', end: i + match[0].length };
}

/** Only web, mail and in-page links; `javascript:`, `data:` and the like come out as plain text. */
export function safeHref(href: string): string | undefined {
  const trimmed = href.trim();
  return /^(https?:|mailto:|#)/i.test(trimmed) ? trimmed : undefined;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#x[\da-f]{1,6}|#\d{1,7}|[a-z]{2,6});/gi, (whole, name: string) => {
    if (name[0] !== '#') return ENTITIES[name.toLowerCase()] ?? whole;
    const value = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : Number(name.slice(1));
    return value > 0 && value <= 0x10ffff ? String.fromCodePoint(value) : whole;
  });
}
