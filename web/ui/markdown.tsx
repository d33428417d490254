// Streaming Markdown rendering: the answer so far is parsed (md-parse.ts) and rendered as Preact elements, never
// as an HTML string, so nothing the model writes can inject markup. Each top-level block keeps its element while
// its source is unchanged, so only the block being written re-renders: no flicker, and a selection in an earlier
// paragraph survives new tokens.

import { Component, type ComponentChildren, type VNode } from 'preact';
import { parseMarkdown, type Block, type Inline } from './md-parse.ts';

export interface MarkdownProps {
  text: string;
  /** The text is still arriving: unfinished emphasis and code at its end are shown closed. */
  streaming?: boolean;
  /** How many sources the answer has: `[n]` within 1..n becomes a link to source n. */
  sourceCount?: number;
  /** Prefix of the source anchors' ids (`${citePrefix}-${n}`). */
  citePrefix?: string;
}

interface Context {
  sourceCount: number;
  citePrefix: string;
}

export function Markdown({
  text,
  streaming = false,
  sourceCount = 0,
  citePrefix = 'src',
}: MarkdownProps): VNode {
  const context = { sourceCount, citePrefix };
  return (
    <div class="rv-md">
      {parseMarkdown(text, streaming).map((block, index) => (
        <TopBlock key={index} block={block} context={context} />
      ))}
    </div>
  );
}

interface TopBlockProps {
  block: Block;
  context: Context;
}

/** Re-renders only when the block's source text (or the number of sources) changed. */
class TopBlock extends Component<TopBlockProps> {
  override shouldComponentUpdate(next: TopBlockProps): boolean {
    return (
      next.block.raw !== this.props.block.raw || next.context.sourceCount !== this.props.context.sourceCount
    );
  }

  override render(): VNode {
    return renderBlock(this.props.block, this.props.context);
  }
}

function renderBlock(block: Block, context: Context): VNode {
  switch (block.type) {
    case 'paragraph':
      return <p>{inlines(block.content, context)}</p>;
    case 'heading': {
      // Answers sit inside a page: their headings start below the page's own.
      const Tag = `h${Math.min(6, block.depth + 2)}` as 'h3';
      return <Tag>{inlines(block.content, context)}</Tag>;
    }
    case 'code':
      return (
        <pre class="rv-code" data-lang={block.lang === '' ? undefined : block.lang}>
          <code>{block.text}</code>
        </pre>
      );
    case 'quote':
      return <blockquote>{blocks(block.blocks, context)}</blockquote>;
    case 'list': {
      const items = block.items.map((item, index) => <li key={index}>{listItem(item, context)}</li>);
      return block.ordered ? (
        <ol start={block.start === 1 ? undefined : block.start}>{items}</ol>
      ) : (
        <ul>{items}</ul>
      );
    }
    case 'table': {
      const style = (index: number): { textAlign: string } | undefined => {
        const align = block.align[index];
        return align === null || align === undefined ? undefined : { textAlign: align };
      };
      return (
        <div class="rv-table">
          <table>
            <thead>
              <tr>
                {block.header.map((cell, index) => (
                  <th key={index} style={style(index)}>
                    {inlines(cell, context)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {block.rows.map((row, rowIndex) => (
                <tr key={rowIndex}>
                  {row.map((cell, index) => (
                    <td key={index} style={style(index)}>
                      {inlines(cell, context)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      );
    }
    case 'hr':
      return <hr />;
  }
}

function blocks(list: Block[], context: Context): ComponentChildren {
  return list.map((block) => renderBlock(block, context));
}

/** A tight item (one paragraph) renders without <p>, like browsers and every Markdown renderer do. */
function listItem(item: Block[], context: Context): ComponentChildren {
  const [first] = item;
  if (item.length === 1 && first?.type === 'paragraph') return inlines(first.content, context);
  return blocks(item, context);
}

function inlines(list: Inline[], context: Context): ComponentChildren {
  return list.map((node) => renderInline(node, context));
}

function renderInline(node: Inline, context: Context): ComponentChildren {
  switch (node.type) {
    case 'text':
      return cite(node.text, context);
    case 'code':
      return <code>{node.text}</code>;
    case 'strong':
      return <strong>{inlines(node.children, context)}</strong>;
    case 'em':
      return <em>{inlines(node.children, context)}</em>;
    case 'del':
      return <del>{inlines(node.children, context)}</del>;
    case 'br':
      return <br />;
    case 'link':
      return (
        <a
          href={node.href}
          target={node.href.startsWith('#') ? undefined : '_blank'}
          rel="noopener noreferrer nofollow"
        >
          {inlines(node.children, context)}
        </a>
      );
  }
}

/** Turns `[n]` into a link to source n when the answer has that many sources. */
function cite(text: string, context: Context): ComponentChildren {
  if (context.sourceCount === 0 || !text.includes('[')) return text;
  const parts: ComponentChildren[] = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d{1,3})\]/g)) {
    const n = Number(match[1]);
    if (n < 1 || n > context.sourceCount) continue;
    parts.push(text.slice(last, match.index));
    parts.push(
      <a
        class="rv-cite"
        href={`#${context.citePrefix}-${n}`}
        data-cite={n}
        aria-label={`source ${n}`}
        onClick={showSource}
      >
        {n}
      </a>,
    );
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

/**
 * Scrolls to the cited passage and focuses it, without touching the address: the app routes by hash, and inside
 * the widget's Shadow DOM a fragment would point at the host page.
 */
function showSource(event: MouseEvent): void {
  const link = event.currentTarget as HTMLAnchorElement;
  const root = link.getRootNode() as Document | ShadowRoot;
  const target = root.getElementById(link.hash.slice(1));
  if (target === null) return;
  event.preventDefault();
  const sources = target.closest('details');
  if (sources !== null) sources.open = true;
  target.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  target.focus({ preventScroll: true });
}
