// A citation pill, `[n]` in an answer: on hover and on keyboard focus it shows a preview of source n (title, where it
// comes from, the snippet with the sentence the statement rests on highlighted) as a tooltip the pill is described
// by; activating it opens the passage (where the page can show one) or scrolls to it in the sources list.

import { createContext, type VNode } from 'preact';
import { useContext, useEffect, useId, useRef, useState } from 'preact/hooks';
import type { Source } from '../../src/core/events.ts';
import { markCited } from './cite-match.ts';

/**
 * Where a page shows a cited passage: an address for the source (with the text to highlight), or undefined when it
 * has no such view (the widget): the pill then scrolls to the passage in the answer's sources list.
 */
export type SourceHref = (source: Source, highlight: string) => string | undefined;
export const SourceHrefContext = createContext<SourceHref | undefined>(undefined);

export interface CiteProps {
  n: number;
  source: Source;
  /** Prefix of the ids of the sources list's items (`${prefix}-${n}`). */
  prefix: string;
  /** The statement before the citation: its words choose the sentence highlighted in the preview. */
  statement: string;
}

interface Placement {
  left: number;
  top?: number;
  bottom?: number;
  width: number;
}

const MARGIN = 8;

export function Cite({ n, source, prefix, statement }: CiteProps): VNode {
  const sourceHref = useContext(SourceHrefContext);
  const [placement, setPlacement] = useState<Placement | undefined>(undefined);
  const link = useRef<HTMLAnchorElement>(null);
  const tipId = `rv-tip-${useId()}`;
  const marked = markCited(source.snippet, statement);
  const href = sourceHref?.(source, marked.mark);

  const show = (): void => {
    const rect = link.current?.getBoundingClientRect();
    if (rect === undefined) return;
    // Fixed to the viewport and kept inside it: on a phone a preview must not widen the page.
    const width = Math.min(340, innerWidth - 2 * MARGIN);
    const left = Math.max(MARGIN, Math.min(rect.left - 16, innerWidth - width - MARGIN));
    const below = innerHeight - rect.bottom > 180 || rect.top < 180;
    setPlacement(
      below ? { left, width, top: rect.bottom + 6 } : { left, width, bottom: innerHeight - rect.top + 6 },
    );
  };
  const hide = (): void => setPlacement(undefined);

  // A fixed preview would stay behind while the answer scrolls under it.
  useEffect(() => {
    if (placement === undefined) return;
    addEventListener('scroll', hide, { capture: true, once: true });
    return () => removeEventListener('scroll', hide, { capture: true });
  }, [placement]);

  return (
    <span class="rv-cite-wrap">
      <a
        ref={link}
        class="rv-cite"
        href={href ?? `#${prefix}-${n}`}
        target={href === undefined ? undefined : '_blank'}
        rel={href === undefined ? undefined : 'noopener'}
        data-cite={n}
        aria-label={`source ${n}`}
        aria-describedby={tipId}
        onMouseEnter={show}
        onMouseLeave={hide}
        onFocus={show}
        onBlur={hide}
        onKeyDown={(event) => {
          if (event.key === 'Escape' && placement !== undefined) {
            event.stopPropagation();
            hide();
          }
        }}
        onClick={href === undefined ? showSource : hide}
      >
        {n}
      </a>
      <span
        role="tooltip"
        id={tipId}
        class="rv-tip"
        hidden={placement === undefined}
        style={placement === undefined ? undefined : { ...placement, width: `${placement.width}px` }}
      >
        <span class="rv-tip-title">
          {n}. {source.title}
        </span>
        {source.uri === undefined ? null : <span class="rv-tip-uri">{source.uri}</span>}
        <span class="rv-tip-snippet">
          {marked.before}
          {marked.mark === '' ? null : <mark>{marked.mark}</mark>}
          {marked.after}
        </span>
        {href === undefined ? null : <span class="rv-tip-hint">Opens the document</span>}
      </span>
    </span>
  );
}

/**
 * Scrolls to the cited passage in the sources list and focuses it, without touching the address: the app routes by
 * hash, and inside the widget's Shadow DOM a fragment would point at the host page.
 */
export function showSource(event: MouseEvent): void {
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
