// A cited passage on its own page (#/source/<chunkId>?chatbot=…&mark=…), opened from a citation: the document's
// title and where it came from, the passage, and the sentence the answer cited highlighted and scrolled to.

import type { VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { RivuletClientError, type RivuletClient } from '../client/index.ts';

export interface PassageViewProps {
  client: RivuletClient;
  chunkId: string;
  chatbotId: string;
  /** The cited sentence, highlighted where the passage contains it. */
  mark: string;
}

interface PassageAnswer {
  document: { id: string; title: string; uri?: string; mediaType: string };
  passage: { id: string; title: string; heading: string; ordinal: number; text: string };
}

export function PassageView({ client, chunkId, chatbotId, mark }: PassageViewProps): VNode {
  const [answer, setAnswer] = useState<PassageAnswer | undefined>(undefined);
  const [error, setError] = useState<RivuletClientError | undefined>(undefined);
  const marked = useRef<HTMLElement>(null);

  useEffect(() => {
    const query = new URLSearchParams({ chatbotId });
    client.request(`/api/passages/${encodeURIComponent(chunkId)}?${query.toString()}`).then(
      (response) => response.json().then((body: PassageAnswer) => setAnswer(body)),
      (failure: unknown) =>
        setError(
          failure instanceof RivuletClientError
            ? failure
            : new RivuletClientError('NETWORK_ERROR', 'The passage could not be loaded.', {
                retryable: true,
              }),
        ),
    );
  }, [client, chunkId, chatbotId]);

  useEffect(() => {
    marked.current?.scrollIntoView({ block: 'center' });
  }, [answer]);

  if (error !== undefined) {
    return (
      <article class="app-passage">
        <p class="rv-error" role="alert">
          {error.message} <span class="rv-code-tag">{error.code}</span>
        </p>
      </article>
    );
  }
  if (answer === undefined) return <article class="app-passage" aria-busy="true" />;
  const { text } = answer.passage;
  const [at, end] = findLoosely(text, mark);
  return (
    <article class="app-passage">
      <h1>{answer.document.title}</h1>
      {answer.document.uri === undefined ? null : <p class="app-passage-uri">{answer.document.uri}</p>}
      {answer.passage.heading === '' ? null : <h2>{answer.passage.heading}</h2>}
      <p class="app-passage-text">
        {at === -1 ? (
          text
        ) : (
          <>
            {text.slice(0, at)}
            <mark ref={marked}>{text.slice(at, end)}</mark>
            {text.slice(end)}
          </>
        )}
      </p>
    </article>
  );
}

/**
 * Where `wanted` is in `text`, whatever the spaces and line breaks between its words (a source's snippet has its
 * whitespace folded, the passage has its lines); [-1, -1] when it is not there.
 */
export function findLoosely(text: string, wanted: string): [number, number] {
  const words = wanted
    .replace(/…$/u, '')
    .split(/\s+/u)
    .filter((word) => word !== '');
  if (words.length === 0) return [-1, -1];
  const pattern = new RegExp(
    words.map((word) => word.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&')).join('\\s+'),
    'u',
  );
  const match = pattern.exec(text);
  return match === null ? [-1, -1] : [match.index, match.index + match[0].length];
}
