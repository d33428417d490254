// The web app served at `/`: conversations on the left, the chat on the right, documents to upload, light and
// dark themes. Routes live in the hash (#/c/<conversationId>, #/documents) so the server serves one page.

import { render, type VNode } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { RivuletClient, type Conversation } from '../client/index.ts';
import { useChat, type UseChat } from '../client/react.ts';
import { ChatPanel } from '../ui/chat.tsx';
import '../ui/chat.css';
import './app.css';
import { DashboardView } from './dashboard/index.tsx';
import { DocumentsView } from './documents.tsx';

export interface AppConfig {
  streaming: boolean;
  chatbotId: string;
  title: string;
  /** `required`: requests need an API key or a JWT (kept in this browser's localStorage). */
  auth: 'open' | 'required';
}

type Route = { view: 'chat'; conversationId: string | null } | { view: 'documents' } | { view: 'dashboard' };

function parseRoute(hash: string): Route {
  if (hash.startsWith('#/documents')) return { view: 'documents' };
  // The dashboard becomes admin-only with the auth issue (issue 6); no gating exists yet.
  if (hash.startsWith('#/dashboard')) return { view: 'dashboard' };
  const match = /^#\/c\/([\w.-]+)/.exec(hash);
  return { view: 'chat', conversationId: match?.[1] ?? null };
}

type Theme = 'light' | 'dark';

function initialTheme(): Theme {
  const saved = localStorage.getItem('rivulet:theme');
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

const TOKEN_KEY = 'rivulet:token';
/** What an admin should fix for a run that fell back on quoted passages (GET /api/runs/:runId/diagnosis). */
const diagnose = (runId: string): Promise<string | null> =>
  client
    .request(`/api/runs/${encodeURIComponent(runId)}/diagnosis`)
    .then((response) => response.json() as Promise<{ hint?: string }>)
    .then((body) => body.hint ?? null);

const client = new RivuletClient({
  headers: (): Record<string, string> => {
    const token = localStorage.getItem(TOKEN_KEY);
    return token === null ? {} : { authorization: `Bearer ${token}` };
  },
});

function App({ config }: { config: AppConfig }): VNode {
  const [route, setRoute] = useState<Route>(() => parseRoute(location.hash));
  const [theme, setTheme] = useState<Theme>(initialTheme);
  // Documents and the dashboard are for admins (the server refuses others too): shown once /api/me says so.
  const [admin, setAdmin] = useState(false);
  useEffect(() => {
    client.request('/api/me').then(
      (response) => response.json().then((me: { admin?: boolean }) => setAdmin(me.admin === true)),
      () => setAdmin(false),
    );
  }, []);
  const chat = useChat({
    client,
    chatbotId: config.chatbotId,
    streaming: config.streaming,
    storage: sessionStorage,
  });

  useEffect(() => {
    const onHash = (): void => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem('rivulet:theme', theme);
  }, [theme]);

  // A link to a conversation opens it; the conversation the chat is in is reflected in the address.
  useEffect(() => {
    if (
      route.view === 'chat' &&
      route.conversationId !== null &&
      route.conversationId !== chat.conversationId
    ) {
      void chat.open(route.conversationId);
    }
  }, [route]);
  useEffect(() => {
    if (
      route.view === 'chat' &&
      chat.conversationId !== null &&
      route.conversationId !== chat.conversationId
    ) {
      history.replaceState(null, '', `#/c/${chat.conversationId}`);
    }
  }, [chat.conversationId, route]);

  return (
    <div class="rv-root app" data-theme={theme}>
      <header class="app-header">
        <a class="app-title" href="#/">
          {config.title}
        </a>
        <nav aria-label="Views">
          <a href="#/" aria-current={route.view === 'chat' ? 'page' : undefined}>
            Chat
          </a>
          {admin ? (
            <>
              <a href="#/documents" aria-current={route.view === 'documents' ? 'page' : undefined}>
                Documents
              </a>
              <a href="#/dashboard" aria-current={route.view === 'dashboard' ? 'page' : undefined}>
                Dashboard
              </a>
            </>
          ) : null}
        </nav>
        <span class="app-mode" title="How answers arrive">
          {chat.mode === 'stream' ? 'streaming' : 'whole answers'}
        </span>
        <button
          type="button"
          class="rv-link-button"
          onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
          aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
        >
          {theme === 'dark' ? 'Light theme' : 'Dark theme'}
        </button>
      </header>
      {config.auth === 'required' ? (
        <SignIn refused={chat.error?.code === 'UNAUTHORIZED' || lastRefused(chat)} />
      ) : null}
      {route.view === 'dashboard' ? (
        <main class="app-main">
          <DashboardView client={client} />
        </main>
      ) : route.view === 'documents' ? (
        <main class="app-main">
          <DocumentsView client={client} chatbotId={config.chatbotId} />
        </main>
      ) : (
        <div class="app-body">
          <ConversationList chat={chat} />
          <main class="app-main">
            <ChatPanel
              chat={chat}
              greeting="Ask a question about your documents. Answers cite their sources."
              diagnose={admin ? diagnose : undefined}
            />
          </main>
        </div>
      )}
    </div>
  );
}

function ConversationList({ chat }: { chat: UseChat }): VNode {
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [failed, setFailed] = useState(false);

  const refresh = useCallback(() => {
    client.listConversations({ limit: 50 }).then(
      (page) => {
        setConversations(page.conversations);
        setFailed(false);
      },
      () => setFailed(true),
    );
  }, []);
  // Refreshed when an answer ends (a new conversation, a new title, a new order).
  useEffect(refresh, [chat.busy, chat.conversationId]);

  const remove = async (id: string): Promise<void> => {
    await client.deleteConversation(id).catch(() => undefined);
    if (id === chat.conversationId) startNew(chat);
    refresh();
  };

  return (
    <aside class="app-sidebar" aria-label="Conversations">
      <button type="button" class="rv-button app-new" onClick={() => startNew(chat)}>
        New chat
      </button>
      {failed ? <p class="rv-error">Conversations could not be loaded.</p> : null}
      <ul class="app-conversations">
        {conversations.map((conversation) => (
          <li key={conversation.id} class={conversation.id === chat.conversationId ? 'current' : undefined}>
            <a
              href={`#/c/${conversation.id}`}
              aria-current={conversation.id === chat.conversationId ? 'true' : undefined}
            >
              {conversation.title ?? 'Untitled'}
            </a>
            <button
              type="button"
              class="rv-link-button app-delete"
              aria-label={`Delete conversation ${conversation.title ?? ''}`}
              onClick={() => void remove(conversation.id)}
            >
              ×
            </button>
          </li>
        ))}
      </ul>
    </aside>
  );
}

/** The last answer was refused for want of valid credentials. */
function lastRefused(chat: UseChat): boolean {
  return chat.messages.at(-1)?.error?.code === 'UNAUTHORIZED';
}

/**
 * Where auth is required: the API key or JWT this browser sends, kept in localStorage (sign-in pages of your own
 * identity provider can put a JWT there too). Shown open when there is none or the server refused it.
 */
function SignIn({ refused }: { refused: boolean }): VNode {
  const saved = localStorage.getItem(TOKEN_KEY);
  const [draft, setDraft] = useState('');
  if (saved !== null && !refused) {
    return (
      <div class="app-signin app-signin-done">
        Signed in with {saved.startsWith('rk_') ? 'an API key' : 'a token'}.{' '}
        <button
          type="button"
          class="rv-link-button"
          onClick={() => {
            localStorage.removeItem(TOKEN_KEY);
            location.reload();
          }}
        >
          Sign out
        </button>
      </div>
    );
  }
  return (
    <form
      class="app-signin"
      onSubmit={(event) => {
        event.preventDefault();
        if (draft.trim() === '') return;
        localStorage.setItem(TOKEN_KEY, draft.trim());
        location.reload();
      }}
    >
      <label>
        {refused && saved !== null
          ? 'The server refused this key or token. '
          : 'This server requires sign-in. '}
        API key or JWT{' '}
        <input
          type="password"
          autocomplete="off"
          value={draft}
          onInput={(event) => setDraft((event.target as HTMLInputElement).value)}
        />
      </label>
      <button type="submit" class="rv-button">
        Sign in
      </button>
    </form>
  );
}

function startNew(chat: UseChat): void {
  chat.reset();
  history.replaceState(null, '', '#/');
}

async function loadConfig(): Promise<AppConfig> {
  const fallback: AppConfig = { streaming: true, chatbotId: 'default', title: 'Rivulet', auth: 'open' };
  try {
    const response = await fetch('/api/config');
    if (!response.ok) return fallback;
    return { ...fallback, ...((await response.json()) as Partial<AppConfig>) };
  } catch {
    return fallback;
  }
}

const root = document.getElementById('app');
if (root !== null) {
  void loadConfig().then((config) => render(<App config={config} />, root));
}
