// The chat panel shared by the web app and the widget: messages with sources, citations, phase status, speed,
// copy and regenerate; a composer with send and stop; and a polite live region for screen readers.

import type { VNode } from 'preact';
import { useContext, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { PhaseName } from '../../src/core/events.ts';
import type { UseChat } from '../client/react.ts';
import type { UiMessage } from '../client/session.ts';
import { FallbackNotice, type Diagnose } from './fallback-notice.tsx';
import { SourceHrefContext } from './citation.tsx';
import { formatMs } from './format.ts';
import { Markdown } from './markdown.tsx';
import { ToolCalls } from './tool-calls.tsx';

export { formatMs };

export const PHASE_LABELS: Record<PhaseName, string> = {
  history: 'Reading the conversation…',
  enhance: 'Understanding your question…',
  cache: 'Checking earlier answers…',
  retrieve: 'Searching your documents…',
  rerank: 'Ranking the passages…',
  generate: 'Writing the answer…',
};

/** "Waiting for the model (position 3, about 20 s)": the estimate only when the server has one. */
export function queueLabel(queue: NonNullable<UiMessage['queue']>): string {
  const wait = queue.estimatedWaitMs;
  const about = wait === null || wait < 1000 ? '' : `, about ${Math.round(wait / 1000)} s`;
  return `Waiting for the model (position ${queue.position}${about})…`;
}

/** Whether the reader sees the conversation's end (within 48 px): the panel then follows the answer. */
function nearEnd(element: HTMLElement): boolean {
  return element.scrollHeight - element.scrollTop - element.clientHeight < 48;
}

/**
 * Scrolls to the conversation's end (a jump to the latest): smoothly, unless the reader asked their system for
 * reduced motion.
 */
function glideToEnd(element: HTMLElement): void {
  const reduced = globalThis.matchMedia?.('(prefers-reduced-motion: reduce)').matches === true;
  element.scrollTo({ top: element.scrollHeight, behavior: reduced ? 'auto' : 'smooth' });
}

export interface ChatPanelProps {
  chat: UseChat;
  /** Shown when there is no message yet. */
  greeting?: string;
  placeholder?: string;
  /** Developer figures under each answer (first token, tokens/s, total, phase timings). Default: shown. */
  showStats?: boolean;
  /** Given to admins: loads what to fix when an answer fell back on quoted passages. */
  diagnose?: Diagnose | undefined;
  /** Questions offered before the first one (a click asks it). */
  starters?: readonly string[];
  /** The composer's id, for a skip link to it. */
  composerId?: string;
}

export function ChatPanel({
  chat,
  greeting,
  placeholder,
  showStats = true,
  diagnose,
  starters = [],
  composerId,
}: ChatPanelProps): VNode {
  const list = useRef<HTMLDivElement>(null);
  const pinned = useRef(true);
  // Set by "Jump to latest" until the view reaches the end or moves up: the smooth scroll's own scroll events pass
  // through positions above the end on its way down, and must not count as the reader scrolling away again. Only the
  // reader moves the view up (wheel, touch, keys, the scrollbar, find in page, a screen reader), so that ends a jump.
  const jumping = useRef(false);
  const lastTop = useRef(0);
  const [away, setAway] = useState(false);
  const last = chat.messages.at(-1);

  // Follows the answer while the reader is at the bottom; leaves them alone once they scroll up to read. During a
  // jump the smooth scroll is aimed again at the new end, so text that lands while it moves is not left below.
  useLayoutEffect(() => {
    const element = list.current;
    if (element === null || !pinned.current) return;
    if (element.scrollTop < lastTop.current && !nearEnd(element)) {
      // The reader moved the view up (find in page, a screen reader) and its scroll event has not come yet.
      jumping.current = false;
      pinned.current = false;
      setAway(true);
      return;
    }
    if (jumping.current) glideToEnd(element);
    else element.scrollTop = element.scrollHeight;
  }, [chat.messages]);

  // A jump that stopped short of the end with no move up (the panel resized under it) aims again when it stops.
  useEffect(() => {
    const element = list.current;
    if (element === null) return;
    const onScrollEnd = (): void => {
      if (jumping.current && !nearEnd(element)) glideToEnd(element);
    };
    element.addEventListener('scrollend', onScrollEnd);
    return () => element.removeEventListener('scrollend', onScrollEnd);
  }, []);

  const onScroll = (): void => {
    const element = list.current;
    if (element === null) return;
    const top = element.scrollTop;
    const movedUp = top < lastTop.current;
    lastTop.current = top;
    const atEnd = nearEnd(element);
    if (jumping.current) {
      if (!atEnd && !movedUp) return;
      jumping.current = false;
    }
    pinned.current = atEnd;
    if (away === pinned.current) setAway(!pinned.current);
  };
  const jumpToLatest = (): void => {
    const element = list.current;
    if (element === null) return;
    pinned.current = true;
    setAway(false);
    // Nearly at the end already (the panel grew taller, say): no scroll event might come to end a jump.
    if (nearEnd(element)) {
      element.scrollTop = element.scrollHeight;
      return;
    }
    jumping.current = true;
    glideToEnd(element);
  };

  const lastAssistant = chat.messages.findLastIndex((message) => message.role === 'assistant');
  return (
    <div class="rv-chat">
      <div class="rv-messages" ref={list} onScroll={onScroll} role="log" aria-label="Conversation">
        {chat.messages.length === 0 ? (
          <div class="rv-empty">
            <p class="rv-greeting">{greeting ?? 'Ask a question about your documents.'}</p>
            {starters.length > 0 ? (
              <ul class="rv-starters" aria-label="Example questions">
                {starters.map((question) => (
                  <li key={question}>
                    <button type="button" class="rv-starter" onClick={() => void chat.send(question)}>
                      {question}
                    </button>
                  </li>
                ))}
              </ul>
            ) : null}
          </div>
        ) : null}
        {chat.error !== null ? (
          <p class="rv-error" role="alert">
            {chat.error.message} <span class="rv-code-tag">{chat.error.code}</span>
          </p>
        ) : null}
        {chat.messages.map((message, index) =>
          message.role === 'user' ? (
            <div class="rv-msg rv-user" key={message.id}>
              <div class="rv-bubble">{message.text}</div>
            </div>
          ) : (
            <AnswerView
              key={message.id}
              message={message}
              canRegenerate={index === lastAssistant && !chat.busy}
              showStats={showStats}
              diagnose={diagnose}
              onRegenerate={() => void chat.regenerate()}
            />
          ),
        )}
      </div>
      {away ? (
        <button type="button" class="rv-jump" onClick={jumpToLatest}>
          {chat.busy ? 'Jump to latest' : 'Back to the end'}
          <span aria-hidden="true"> ↓</span>
        </button>
      ) : null}
      <Announcer message={last} />
      <Composer chat={chat} placeholder={placeholder} id={composerId} />
    </div>
  );
}

/** One answer: phase, tool calls, sources, the Markdown text streaming, errors, then its footer (rooms reuse it). */
export function AnswerView({
  message,
  canRegenerate,
  showStats,
  diagnose,
  onRegenerate,
}: {
  message: UiMessage;
  canRegenerate: boolean;
  showStats: boolean;
  diagnose: Diagnose | undefined;
  onRegenerate: () => void;
}): VNode {
  const prefix = `src-${message.id}`;
  const active = message.status === 'pending' || message.status === 'streaming';
  return (
    <div class={`rv-msg rv-assistant rv-${message.status}`} data-status={message.status} aria-busy={active}>
      {message.queue !== undefined && active ? (
        <p class="rv-phase rv-queued" data-phase="queued">
          <span class="rv-spinner" aria-hidden="true" />
          {queueLabel(message.queue)}
        </p>
      ) : message.phase !== null && active ? (
        <p class="rv-phase" data-phase={message.phase}>
          <span class="rv-spinner" aria-hidden="true" />
          {PHASE_LABELS[message.phase]}
        </p>
      ) : null}
      {message.tools === undefined || message.tools.length === 0 ? null : <ToolCalls calls={message.tools} />}
      {message.fallback !== undefined ? (
        <FallbackNotice reason={message.fallback.reason} runId={message.runId} diagnose={diagnose} />
      ) : null}
      {message.sources.length > 0 ? <SourceList message={message} prefix={prefix} /> : null}
      {message.match?.quality === 'none' ? (
        <p class="rv-note rv-no-match" role="note">
          No matching documents: this answer does not come from your documents.
        </p>
      ) : null}
      <div class="rv-answer">
        <Markdown
          text={message.text}
          streaming={message.status === 'streaming'}
          sources={message.sources}
          citePrefix={prefix}
          tail={message.status === 'streaming' ? <span class="rv-caret" aria-hidden="true" /> : null}
        />
      </div>
      {message.error !== undefined ? (
        <p class="rv-error" role="alert">
          {message.error.message} <span class="rv-code-tag">{message.error.code}</span>
        </p>
      ) : null}
      {message.status === 'stopped' ? <p class="rv-note">Stopped.</p> : null}
      {active ? null : (
        <AnswerFooter
          message={message}
          canRegenerate={canRegenerate}
          showStats={showStats}
          onRegenerate={onRegenerate}
        />
      )}
    </div>
  );
}

/** The answer's sources, folded by default (a citation's preview shows one; opening the list shows them all). */
function SourceList({ message, prefix }: { message: UiMessage; prefix: string }): VNode {
  const sourceHref = useContext(SourceHrefContext);
  return (
    <details class="rv-sources">
      <summary>
        {message.sources.length} source{message.sources.length === 1 ? '' : 's'}
      </summary>
      <ol>
        {message.sources.map((source) => (
          <li id={`${prefix}-${source.id}`} key={source.id} tabIndex={-1}>
            <span class="rv-source-n">{source.id}</span>
            <span class="rv-source-body">
              {sourceHref?.(source, '') === undefined ? (
                <span class="rv-source-title">{source.title}</span>
              ) : (
                <a class="rv-source-title" href={sourceHref(source, '')} target="_blank" rel="noopener">
                  {source.title}
                </a>
              )}
              {source.uri ? <span class="rv-source-uri">{source.uri}</span> : null}
              <span class="rv-source-snippet">{source.snippet}</span>
            </span>
          </li>
        ))}
      </ol>
    </details>
  );
}

function AnswerFooter({
  message,
  canRegenerate,
  showStats,
  onRegenerate,
}: {
  message: UiMessage;
  canRegenerate: boolean;
  showStats: boolean;
  onRegenerate: () => void;
}): VNode {
  const [copied, setCopied] = useState(false);
  const stats = showStats ? message.stats : undefined;
  const parts: string[] = [];
  if (showStats && message.cached === true) parts.push('cached');
  if (stats?.ttftMs != null) parts.push(`first token ${formatMs(stats.ttftMs)}`);
  if (stats?.tokensPerSecond != null) parts.push(`${stats.tokensPerSecond.toFixed(0)} tokens/s`);
  if (stats?.totalMs != null) parts.push(`total ${formatMs(stats.totalMs)}`);
  const copy = (): void => {
    void navigator.clipboard?.writeText(message.text).then(
      () => {
        setCopied(true);
        setTimeout(() => setCopied(false), 1500);
      },
      () => undefined,
    );
  };
  const phases = Object.entries(stats?.phases ?? {}) as [PhaseName, number][];
  return (
    <div class="rv-footer">
      {parts.length > 0 ? <span class="rv-stats">{parts.join(' · ')}</span> : null}
      {phases.length > 0 ? (
        <details class="rv-timings">
          <summary>timings</summary>
          <span class="rv-phases">{phases.map(([name, ms]) => `${name} ${formatMs(ms)}`).join(' · ')}</span>
        </details>
      ) : null}
      <span class="rv-actions">
        {message.text !== '' ? (
          <button type="button" class="rv-link-button" onClick={copy}>
            {copied ? 'Copied' : 'Copy'}
          </button>
        ) : null}
        {canRegenerate ? (
          <button type="button" class="rv-link-button" onClick={onRegenerate}>
            Regenerate
          </button>
        ) : null}
      </span>
    </div>
  );
}

/** Tells screen readers what is happening without reading every token: the phase, then the whole answer's end. */
function Announcer({ message }: { message: UiMessage | undefined }): VNode {
  let text = '';
  if (message?.role === 'assistant') {
    if (message.status === 'pending' && message.queue !== undefined) text = queueLabel(message.queue);
    else if (message.status === 'pending' && message.phase !== null) text = PHASE_LABELS[message.phase];
    else if (message.status === 'streaming') text = 'Answering…';
    else if (message.status === 'complete') text = 'Answer complete.';
    else if (message.status === 'stopped') text = 'Answer stopped.';
    else if (message.status === 'failed') text = `The answer failed: ${message.error?.message ?? ''}`;
  }
  return (
    <div class="rv-sr-only" aria-live="polite" aria-atomic="true">
      {text}
    </div>
  );
}

/** The question box with send and stop (rooms reuse it with their own send and stop). */
export function Composer({
  chat,
  placeholder,
  id,
}: {
  chat: Pick<UseChat, 'busy' | 'send' | 'stop'>;
  placeholder: string | undefined;
  id?: string | undefined;
}): VNode {
  const [draft, setDraft] = useState('');
  const input = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    if (!chat.busy) input.current?.focus();
  }, [chat.busy]);

  const submit = (): void => {
    if (chat.busy || draft.trim() === '') return;
    void chat.send(draft);
    setDraft('');
  };
  const onKeyDown = (event: KeyboardEvent): void => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.key === 'Escape' && chat.busy) {
      event.preventDefault();
      void chat.stop();
    }
  };
  return (
    <form
      class="rv-composer"
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
    >
      <textarea
        ref={input}
        id={id}
        rows={1}
        value={draft}
        aria-label="Your question"
        placeholder={placeholder ?? 'Ask a question… (Enter to send, Shift+Enter for a new line)'}
        onInput={(event) => setDraft((event.target as HTMLTextAreaElement).value)}
        onKeyDown={onKeyDown}
      />
      {chat.busy ? (
        <button
          type="button"
          class="rv-button rv-stop"
          onClick={() => void chat.stop()}
          aria-label="Stop the answer (Escape)"
        >
          Stop
        </button>
      ) : (
        <button type="submit" class="rv-button" disabled={draft.trim() === ''}>
          Send
        </button>
      )}
    </form>
  );
}
