// The conversation history: New chat, a search box, conversations grouped by date, each with Rename and Delete
// (asked to confirm) that the keyboard reaches like the mouse. The sidebar on a wide screen, a drawer on a phone.

import type { VNode } from 'preact';
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { Conversation, RivuletClient } from '../../client/index.ts';
import type { UseChat } from '../../client/react.ts';
import { groupByDate } from './date-groups.ts';

export interface ConversationListProps {
  client: RivuletClient;
  chat: UseChat;
  /** Starts a new conversation (and closes the drawer). */
  onNew: () => void;
  /** A conversation was chosen (the drawer closes). */
  onOpen: () => void;
}

export function ConversationList({ client, chat, onNew, onOpen }: ConversationListProps): VNode {
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [failed, setFailed] = useState(false);
  const [query, setQuery] = useState('');

  const refresh = useCallback(() => {
    client.listConversations({ limit: 200 }).then(
      (page) => {
        setConversations(page.conversations);
        setFailed(false);
      },
      () => setFailed(true),
    );
  }, [client]);
  // Refreshed when an answer ends (a new conversation, a new title, a new order).
  useEffect(refresh, [chat.busy, chat.conversationId]);

  const words = query
    .toLowerCase()
    .split(/\s+/u)
    .filter((word) => word !== '');
  const shown = conversations.filter((conversation) => {
    const title = (conversation.title ?? 'Untitled').toLowerCase();
    return words.every((word) => title.includes(word));
  });
  const groups = groupByDate(shown, (conversation) => conversation.updatedAt, Date.now());

  const remove = async (id: string): Promise<void> => {
    setConversations((list) => list.filter((conversation) => conversation.id !== id));
    await client.deleteConversation(id).catch(() => undefined);
    if (id === chat.conversationId) onNew();
    refresh();
  };
  const rename = async (id: string, title: string): Promise<void> => {
    setConversations((list) =>
      list.map((conversation) => (conversation.id === id ? { ...conversation, title } : conversation)),
    );
    await client.renameConversation(id, title).catch(() => undefined);
    refresh();
  };

  return (
    <>
      <button type="button" class="rv-button app-new" onClick={onNew}>
        New chat
      </button>
      <input
        type="search"
        class="app-search"
        placeholder="Search conversations"
        aria-label="Search conversations"
        value={query}
        onInput={(event) => setQuery((event.target as HTMLInputElement).value)}
      />
      {failed ? <p class="rv-error">Conversations could not be loaded.</p> : null}
      {conversations.length > 0 && shown.length === 0 ? (
        <p class="app-none">No conversation matches “{query.trim()}”.</p>
      ) : null}
      {groups.map(({ group, items }) => (
        <section class="app-group" key={group} aria-label={group}>
          <h2 class="app-group-title">{group}</h2>
          <ul class="app-conversations">
            {items.map((conversation) => (
              <ConversationItem
                key={conversation.id}
                conversation={conversation}
                current={conversation.id === chat.conversationId}
                onOpen={onOpen}
                onRename={(title) => void rename(conversation.id, title)}
                onDelete={() => void remove(conversation.id)}
              />
            ))}
          </ul>
        </section>
      ))}
    </>
  );
}

interface ItemProps {
  conversation: Conversation;
  current: boolean;
  onOpen: () => void;
  onRename: (title: string) => void;
  onDelete: () => void;
}

function ConversationItem({ conversation, current, onOpen, onRename, onDelete }: ItemProps): VNode {
  const [mode, setMode] = useState<'view' | 'rename' | 'confirm'>('view');
  const title = conversation.title ?? 'Untitled';
  const field = useRef<HTMLInputElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  const renameButton = useRef<HTMLButtonElement>(null);

  // Before the next key press is handled (a layout effect runs with the render, an effect only after paint): a fast
  // typer's first letter must replace the old title, not be selected away with it.
  useLayoutEffect(() => {
    if (mode === 'rename') field.current?.select();
    if (mode === 'confirm') cancel.current?.focus();
  }, [mode]);

  const back = (): void => {
    setMode('view');
    // Focus returns where it was, not to the top of the page.
    requestAnimationFrame(() => renameButton.current?.focus());
  };

  if (mode === 'rename') {
    return (
      <li class="app-conversation editing">
        <form
          class="app-rename"
          onSubmit={(event) => {
            event.preventDefault();
            const value = field.current?.value.replace(/\s+/gu, ' ').trim() ?? '';
            if (value !== '' && value !== title) onRename(value);
            back();
          }}
        >
          <input
            ref={field}
            defaultValue={title}
            maxLength={200}
            aria-label="New title"
            onKeyDown={(event) => {
              if (event.key === 'Escape') {
                event.preventDefault();
                back();
              }
            }}
          />
          <button type="submit" class="rv-link-button">
            Save
          </button>
        </form>
      </li>
    );
  }
  if (mode === 'confirm') {
    return (
      <li class="app-conversation confirming" role="group" aria-label={`Delete “${title}”?`}>
        <span class="app-confirm-text">Delete “{title}”?</span>
        <button type="button" class="rv-link-button app-confirm-delete" onClick={onDelete}>
          Delete
        </button>
        <button ref={cancel} type="button" class="rv-link-button" onClick={back}>
          Cancel
        </button>
      </li>
    );
  }
  return (
    <li class={`app-conversation${current ? ' current' : ''}`}>
      <a href={`#/c/${conversation.id}`} aria-current={current ? 'true' : undefined} onClick={onOpen}>
        {title}
      </a>
      <span class="app-item-actions">
        <button
          ref={renameButton}
          type="button"
          class="rv-link-button"
          aria-label={`Rename “${title}”`}
          title="Rename"
          onClick={() => setMode('rename')}
        >
          <span aria-hidden="true">✎</span>
        </button>
        <button
          type="button"
          class="rv-link-button app-delete"
          aria-label={`Delete “${title}”`}
          title="Delete"
          onClick={() => setMode('confirm')}
        >
          <span aria-hidden="true">×</span>
        </button>
      </span>
    </li>
  );
}
