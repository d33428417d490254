// Streaming Markdown rendering: the answer so far is parsed (md-parse.ts) and rendered as Preact elements, never
// as an HTML string, so nothing the model writes can inject markup. Each top-level block keeps its element while
// its source is unchanged, so only the block being written re-renders: no flicker, and a selection in an earlier
// paragraph survives new tokens.

import { Component, type ComponentChildren, type VNode } from 'preact';
import type { Source } from '../../src/core/events.ts';
import { statementBefore } from './cite-match.ts';
import { Cite } from './citation.tsx';
import { CodeBlock } from './code-block.tsx';
import { parseMarkdown, type Block, type Inline } from './md-parse.ts';

export interface MarkdownProps {
  text: string;
  /** The text is still arriving: unfinished emphasis and code at its end are shown closed. */
  streaming?: boolean;
  /** The answer's sources: `[n]` within 1..n becomes a citation of source n. */
  sources?: readonly Source[];
  /** Prefix of the source anchors' ids (`${citePrefix}-${n}`). */
  citePrefix?: string;
  /** Shown at the very end of the text, inline (the streaming caret). */
  tail?: VNode | null;
}

interface Context {
  sources: readonly Source[];
  citePrefix: string;
}

export function Markdown({
  text,
  streaming = false,
  sources = [],
  citePrefix = 'src',
  tail = null,
}: MarkdownProps): VNode {
  const context = { sources, citePrefix };
  const parsed = parseMarkdown(text, streaming);
  return (
    <div class="rv-md">
      {parsed.map((block, index) => {
        const last = index === parsed.length - 1;
        return (
          <TopBlock
            key={index}
            block={block}
            context={context}
            tail={last ? tail : null}
            // The block being written is unfinished; a code block is highlighted once it is not.
            complete={!(streaming && last)}
          />
        );
      })}
      {parsed.length === 0 ? tail : null}
    </div>
  );
}

interface TopBlockProps {
  block: Block;
  context: Context;
  tail: VNode | null;
  complete: boolean;
}

/** Re-renders only when the block's source text, the sources, its tail or its completeness changed. */
class TopBlock extends Component<TopBlockProps> {
  override shouldComponentUpdate(next: TopBlockProps): boolean {
    return (
      next.block.raw !== this.props.block.raw ||
      next.context.sources !== this.props.context.sources ||
      next.tail !== this.props.tail ||
      next.complete !== this.props.complete
    );
  }

  override render(): VNode {
    return renderBlock(this.props.block, this.props.context, this.props.tail, this.props.complete);
  }
}

/** `tail` goes at the end of the block's last line of text, inline. */
function renderBlock(block: Block, context: Context, tail: VNode | null = null, complete = true): VNode {
  switch (block.type) {
    case 'paragraph':
      return (
        <p>
          {inlines(block.content, context)}
          {tail}
        </p>
      );
    case 'heading': {
      // Answers sit inside a page: their headings start below the page's own, sized by their Markdown level.
      const Tag = `h${Math.min(6, block.depth + 2)}` as 'h3';
      return (
        <Tag class={`rv-h${block.depth}`}>
          {inlines(block.content, context)}
          {tail}
        </Tag>
      );
    }
    case 'code':
      return (
        <>
          <CodeBlock code={block.text} language={block.lang} complete={complete} />
          {tail}
        </>
      );
    case 'quote':
      return <blockquote>{blocks(block.blocks, context, tail)}</blockquote>;
    case 'list': {
      const items = block.items.map((item, index) => (
        <li key={index}>{listItem(item, context, index === block.items.length - 1 ? tail : null)}</li>
      ));
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
        <>
          {/* Scrolls sideways inside itself: a wide table never widens the page. */}
          <div class="rv-table" tabIndex={0} role="region" aria-label="Table">
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
          {tail}
        </>
      );
    }
    case 'hr':
      return (
        <>
          <hr />
          {tail}
        </>
      );
  }
}

function blocks(list: Block[], context: Context, tail: VNode | null = null): ComponentChildren {
  return list.map((block, index) => renderBlock(block, context, index === list.length - 1 ? tail : null));
}

/** A tight item (one paragraph) renders without <p>, like browsers and every Markdown renderer do. */
function listItem(item: Block[], context: Context, tail: VNode | null): ComponentChildren {
  const [first] = item;
  if (item.length === 1 && first?.type === 'paragraph') return [inlines(first.content, context), tail];
  return blocks(item, context, tail);
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

/** Turns `[n]` into a citation of source n when the answer has that many sources. */
function cite(text: string, context: Context): ComponentChildren {
  if (context.sources.length === 0 || !text.includes('[')) return text;
  const parts: ComponentChildren[] = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d{1,3})\]/g)) {
    const n = Number(match[1]);
    const source = context.sources[n - 1];
    if (source === undefined || n < 1) continue;
    parts.push(text.slice(last, match.index));
    parts.push(
      <Cite
        n={n}
        source={source}
        prefix={context.citePrefix}
        statement={statementBefore(text, match.index)}
      />,
    );
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}
