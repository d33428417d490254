// Markdown loader (marked's lexer, GFM): headings build the heading path; paragraphs, lists, code blocks, tables and
// quotes become plain readable text. A leading YAML front matter block becomes document metadata (its `title` wins).
import { Lexer, type Token, type Tokens } from 'marked';
import { decodeEntities, htmlText } from './html.ts';
import { decodeText, SectionBuilder, type FormatLoader } from './shared.ts';

const FRONT_MATTER = /^---[ \t]*\n([\s\S]*?)\n(?:---|\.\.\.)[ \t]*(?:\n|$)/;

export const loadMarkdown: FormatLoader = (bytes, fileName) => {
  let source = decodeText(bytes, fileName);
  const metadata: Record<string, unknown> = {};
  const frontMatter = FRONT_MATTER.exec(source);
  if (frontMatter) {
    source = source.slice(frontMatter[0].length);
    for (const line of frontMatter[1]!.split('\n')) {
      const field = /^([A-Za-z][\w-]*):[ \t]*(.*?)[ \t]*$/.exec(line);
      if (field?.[2]) metadata[field[1]!] = field[2].replace(/^(["'])(.*)\1$/, '$2');
    }
  }
  // marked slows down steeply with deep indentation (3,000 nested list levels take minutes): beyond 64 columns,
  // indentation only adds nesting no reader can follow, so it is capped.
  source = source.replace(/^[ \t]{17,}/gm, (indent) => indent.replaceAll('\t', '    ').slice(0, 64));
  const builder = new SectionBuilder();
  for (const token of new Lexer({ gfm: true }).lex(source)) {
    if (token.type === 'heading') {
      const heading = token as Tokens.Heading;
      builder.heading(heading.depth, inline(heading.tokens));
    } else {
      builder.add(block(token, fileName));
    }
  }
  const sections = builder.finish();
  const title = typeof metadata.title === 'string' ? metadata.title : builder.title;
  return { title, sections, metadata };
};

/** A block token as plain text. */
function block(token: Token, fileName: string): string {
  switch (token.type) {
    case 'paragraph':
      return inline((token as Tokens.Paragraph).tokens);
    case 'text': {
      const text = token as Tokens.Text;
      return text.tokens ? inline(text.tokens) : decodeEntities(text.text);
    }
    case 'code':
      return (token as Tokens.Code).text;
    case 'list':
      return list(token as Tokens.List, '', fileName);
    case 'table': {
      const table = token as Tokens.Table;
      return [table.header, ...table.rows]
        .map((cells) => cells.map((cell) => inline(cell.tokens)).join(' | '))
        .join('\n');
    }
    case 'blockquote':
      return (token as Tokens.Blockquote).tokens
        .map((child) => block(child, fileName))
        .filter(Boolean)
        .join('\n\n');
    case 'heading':
      return inline((token as Tokens.Heading).tokens);
    case 'html':
      return htmlText((token as Tokens.HTML).text, fileName);
    default:
      return ''; // space, hr, def
  }
}

function list(token: Tokens.List, indent: string, fileName: string): string {
  const start = typeof token.start === 'number' ? token.start : 1;
  return token.items
    .map((item, index) => {
      const marker = token.ordered ? `${start + index}. ` : '- ';
      const check = item.task ? (item.checked ? '[x] ' : '[ ] ') : '';
      const parts = item.tokens
        .filter((child) => child.type !== 'checkbox')
        .map((child) =>
          child.type === 'list'
            ? list(child as Tokens.List, `${indent}  `, fileName)
            : block(child, fileName),
        )
        .filter(Boolean);
      const [first = '', ...rest] = parts;
      return [`${indent}${marker}${check}${first}`, ...rest].join('\n');
    })
    .join('\n');
}

/** Inline tokens as plain text: emphasis and links keep their words, code keeps its text, images their alt text. */
function inline(tokens: Token[] | undefined): string {
  let out = '';
  for (const token of tokens ?? []) {
    switch (token.type) {
      case 'text': {
        const text = token as Tokens.Text;
        out += text.tokens ? inline(text.tokens) : decodeEntities(text.text);
        break;
      }
      case 'strong':
      case 'em':
      case 'del':
      case 'link':
        out += inline((token as Tokens.Strong).tokens);
        break;
      case 'codespan':
      case 'escape':
        out += (token as Tokens.Codespan).text;
        break;
      case 'image':
        out += (token as Tokens.Image).text;
        break;
      case 'br':
        out += '\n';
        break;
      case 'html':
        break; // inline tags carry no text of their own
      default:
        out += 'text' in token && typeof token.text === 'string' ? token.text : '';
    }
  }
  return out;
}
