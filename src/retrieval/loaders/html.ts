// HTML loader (htmlparser2): h1-h6 build the heading path; paragraphs, list items, preformatted text and table
// rows become text; scripts, styles, navigation, footers and hidden elements are dropped; <title> is the title.
// The DOCX loader reuses it on mammoth's HTML.
import { Parser } from 'htmlparser2';
import { decodeText, SectionBuilder, unreadable, type FormatLoader, type LoadedParts } from './shared.ts';

const SKIPPED = new Set([
  'script',
  'style',
  'noscript',
  'template',
  'nav',
  'footer',
  'svg',
  'math',
  'canvas',
  'iframe',
  'object',
  'button',
  'select',
  'textarea',
]);
const BLOCKS = new Set([
  'address',
  'article',
  'aside',
  'blockquote',
  'caption',
  'dd',
  'details',
  'div',
  'dl',
  'dt',
  'figcaption',
  'figure',
  'header',
  'hr',
  'main',
  'ol',
  'p',
  'section',
  'summary',
  'table',
  'ul',
]);
const HEADING = /^h([1-6])$/;
/** htmlparser2 does O(depth) work per tag, so unclosed tags nested without end would take quadratic time. */
const MAX_DEPTH = 1000;

/** Sections and title of an HTML string; `fileName` is for error messages. */
export function parseHtml(html: string, fileName: string): LoadedParts {
  const builder = new SectionBuilder();
  const open: boolean[] = []; // per open element: does it start a skipped subtree?
  let skipping = 0;
  let title: string | undefined;
  let inTitle = false;
  let buffer = '';
  let pre = 0;
  let listDepth = 0;
  let bullet = '';
  let row: string[] | undefined;
  let headingLevel = 0;

  const flush = (kind: 'block' | 'line' = 'block'): void => {
    if (headingLevel > 0) return; // a block inside a heading stays part of the heading
    const text = pre > 0 ? buffer.replace(/^\n+|\s+$/g, '') : collapse(buffer);
    buffer = '';
    if (!text) return;
    builder.add(bullet + text, bullet ? 'line' : kind);
    bullet = '';
  };

  const parser = new Parser(
    {
      onopentag(name, attributes) {
        if (open.length >= MAX_DEPTH) {
          throw unreadable(fileName, `nests HTML elements more than ${MAX_DEPTH} deep`);
        }
        const skip = SKIPPED.has(name) || 'hidden' in attributes || attributes['aria-hidden'] === 'true';
        open.push(skip);
        if (skip) skipping++;
        if (skipping > 0) return;
        if (name === 'title' && title === undefined) inTitle = true;
        else if (name === 'br') buffer += '\n';
        else if (row) {
          if (name === 'td' || name === 'th') buffer = '';
        } else if (name === 'tr') {
          flush();
          row = [];
        } else if (HEADING.test(name)) {
          flush();
          headingLevel = Number(name[1]);
        } else if (name === 'li') {
          flush();
          bullet = `${'  '.repeat(Math.max(0, listDepth - 1))}- `;
        } else if (name === 'pre') {
          flush();
          pre++;
        } else if (BLOCKS.has(name)) {
          flush();
          if (name === 'ul' || name === 'ol') listDepth++;
        }
      },
      ontext(text) {
        if (skipping > 0) return;
        if (inTitle) title = (title ?? '') + text;
        else buffer += pre > 0 ? text : text.replace(/\s+/g, ' ');
      },
      onclosetag(name) {
        const skip = open.pop() ?? false;
        if (skipping > 0) {
          if (skip) skipping--;
          return;
        }
        if (name === 'title' && inTitle) inTitle = false;
        else if (row) {
          if (name === 'td' || name === 'th') {
            row.push(collapse(buffer).replaceAll('\n', ' '));
            buffer = '';
          } else if (name === 'tr') {
            if (row.some(Boolean)) builder.add(row.join(' | '), 'line');
            row = undefined;
          }
        } else if (headingLevel > 0 && HEADING.test(name)) {
          builder.heading(headingLevel, buffer);
          buffer = '';
          headingLevel = 0;
        } else if (name === 'pre') {
          flush();
          pre = Math.max(0, pre - 1);
        } else if (name === 'li') {
          flush('line');
          bullet = '';
        } else if (BLOCKS.has(name)) {
          flush(name === 'dt' || name === 'dd' ? 'line' : 'block');
          if (name === 'ul' || name === 'ol') listDepth = Math.max(0, listDepth - 1);
        }
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.end(html);
  flush();
  const sections = builder.finish();
  return { title: collapse(title ?? '') || builder.title, sections };
}

/** Plain text of an HTML fragment (for raw HTML inside Markdown). */
export function htmlText(html: string, fileName: string): string {
  return parseHtml(html, fileName)
    .sections.map((section) => section.text)
    .join('\n\n');
}

/** Decodes character references (&amp;, &#233;, ...) in text that may also contain a literal "<". */
export function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  let out = '';
  new Parser({ ontext: (part) => (out += part) }, { decodeEntities: true }).end(text.replaceAll('<', '&lt;'));
  return out;
}

export const loadHtml: FormatLoader = (bytes, fileName) => parseHtml(decodeText(bytes, fileName), fileName);

function collapse(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/\s+/g, ' ').trim())
    .filter(Boolean)
    .join('\n');
}
