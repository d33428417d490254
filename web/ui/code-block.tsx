// A fenced code block in an answer: its language, a copy button, and syntax highlighting where the page provides a
// highlighter (the web app loads one lazily; the widget has none, to stay within its size budget).

import { createContext, type VNode } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';

/**
 * Highlights code as HTML: the highlighter escapes every character of the code and adds only its own
 * `<span class="hljs-…">` elements, so its output is safe to set as markup. Undefined for a language it lacks.
 */
export type Highlighter = (code: string, language: string) => string | undefined;

/** How a page gets its highlighter: a dynamic import, so that it costs nothing until a code block is shown. */
export const HighlighterContext = createContext<(() => Promise<Highlighter>) | undefined>(undefined);

export interface CodeBlockProps {
  code: string;
  language: string;
  /** The block is finished (its fence closed, or the answer ended): only then is it highlighted. */
  complete: boolean;
}

export function CodeBlock({ code, language, complete }: CodeBlockProps): VNode {
  const load = useContext(HighlighterContext);
  const [html, setHtml] = useState<string | undefined>(undefined);
  const [copied, setCopied] = useState<'copied' | 'failed' | undefined>(undefined);

  useEffect(() => {
    if (!complete || load === undefined || language === '') return;
    let current = true;
    load().then(
      (highlight) => {
        if (current) setHtml(highlight(code, language));
      },
      // Without its highlighter the block stays plain text: nothing is lost.
      () => undefined,
    );
    return () => {
      current = false;
    };
  }, [complete, code, language, load]);

  const copy = (): void => {
    const done = (result: 'copied' | 'failed'): void => {
      setCopied(result);
      setTimeout(() => setCopied(undefined), 1500);
    };
    if (navigator.clipboard === undefined) done('failed');
    else
      navigator.clipboard.writeText(code).then(
        () => done('copied'),
        () => done('failed'),
      );
  };

  return (
    <div class="rv-code-block">
      <div class="rv-code-bar">
        <span class="rv-code-lang">{language === '' ? 'text' : language}</span>
        <button
          type="button"
          class="rv-link-button rv-code-copy"
          onClick={copy}
          aria-label={copied === 'copied' ? 'Code copied' : 'Copy code'}
        >
          {copied === 'copied' ? 'Copied' : copied === 'failed' ? 'Copy failed' : 'Copy'}
        </button>
      </div>
      <pre class="rv-code" data-lang={language === '' ? undefined : language}>
        {html === undefined ? (
          <code>{code}</code>
        ) : (
          // The highlighter's output: the code escaped, inside its own spans (see Highlighter).
          <code class="hljs" dangerouslySetInnerHTML={{ __html: html }} />
        )}
      </pre>
    </div>
  );
}
