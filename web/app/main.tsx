// The web app served at `/`: the conversation history (a sidebar, a drawer on a phone), the chat, a cited passage's
// page, documents and the dashboard for admins, light and dark themes. Routes live in the hash (route.ts) so the
// server serves one page; each view is one element below.

import { render, type VNode } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { RivuletClient } from '../client/index.ts';
import { useChat, type UseChat } from '../client/react.ts';
import { ChatPanel } from '../ui/chat.tsx';
import { SourceHrefContext, type SourceHref } from '../ui/citation.tsx';
import { HighlighterContext, type Highlighter } from '../ui/code-block.tsx';
import '../ui/chat.css';
import './app.css';
import { ConversationList } from './conversations/conversation-list.tsx';
import { DashboardView } from './dashboard/index.tsx';
import { DocumentsView } from './documents.tsx';
import { PassageView } from './passage-view.tsx';
import { RoomsView } from './rooms/index.tsx';
import { parseRoute, sourceRoute, type Route } from './route.ts';
import { lastRefused, SignIn, TOKEN_KEY } from './sign-in.tsx';

export interface AppConfig {
  streaming: boolean;
  chatbotId: string;
  title: string;
  /** `required`: requests need an API key or a JWT (kept in this browser's localStorage). */
  auth: 'open' | 'required';
  /** Example questions for the empty chat. */
  starters: string[];
}

type Theme = 'light' | 'dark';

function initialTheme(): Theme {
  const saved = localStorage.getItem('rivulet:theme');
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

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

/** Syntax highlighting, in its own chunk: loaded with the first finished code block, never by the widget. */
const loadHighlighter = (): Promise<Highlighter> =>
  import('./highlight.ts').then((module) => module.highlight);

const COMPOSER_ID = 'composer';

function App({ config }: { config: AppConfig }): VNode {
  const [route, setRoute] = useState<Route>(() => parseRoute(location.hash));
  const [theme, setTheme] = useState<Theme>(initialTheme);
  const [drawer, setDrawer] = useState(false);
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

  // The drawer closes with Escape, and whenever the route changes.
  useEffect(() => {
    if (!drawer) return;
    const onKey = (event: KeyboardEvent): void => {
      if (event.key === 'Escape') setDrawer(false);
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [drawer]);
  useEffect(() => setDrawer(false), [route]);

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

  const sourceHref: SourceHref = (source, highlight) =>
    source.chunkId === undefined ? undefined : sourceRoute(source.chunkId, config.chatbotId, highlight);
  const newChat = (): void => {
    startNew(chat);
    setDrawer(false);
    if (route.view !== 'chat') location.hash = '#/';
    focusComposer();
  };

  return (
    <div class="rv-root app" data-theme={theme} data-drawer={drawer ? 'open' : undefined}>
      <a
        class="app-skip"
        href={`#${COMPOSER_ID}`}
        onClick={(event) => {
          // Not a hash change: the hash is the route.
          event.preventDefault();
          focusComposer();
        }}
      >
        Skip to the question box
      </a>
      <header class="app-header">
        {route.view === 'chat' ? (
          <button
            type="button"
            class="app-menu"
            aria-label="Conversations"
            aria-expanded={drawer}
            aria-controls="app-sidebar"
            onClick={() => setDrawer(!drawer)}
          >
            <span aria-hidden="true">☰</span>
          </button>
        ) : null}
        <a class="app-title" href="#/">
          {config.title}
        </a>
        <nav aria-label="Views">
          <a href="#/" aria-current={route.view === 'chat' ? 'page' : undefined}>
            Chat
          </a>
          <a href="#/rooms" aria-current={route.view === 'rooms' ? 'page' : undefined}>
            Rooms
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
          class="app-theme"
          onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
          aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
          title={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
        >
          <span aria-hidden="true">{theme === 'dark' ? '☀' : '☾'}</span>
        </button>
      </header>
      {config.auth === 'required' ? (
        <SignIn refused={chat.error?.code === 'UNAUTHORIZED' || lastRefused(chat)} />
      ) : null}
      <HighlighterContext.Provider value={loadHighlighter}>
        <SourceHrefContext.Provider value={sourceHref}>{view(route)}</SourceHrefContext.Provider>
      </HighlighterContext.Provider>
    </div>
  );

  function view(current: Route): VNode {
    switch (current.view) {
      case 'dashboard':
        return (
          <main class="app-main">
            <DashboardView client={client} />
          </main>
        );
      case 'documents':
        return (
          <main class="app-main">
            <DocumentsView client={client} chatbotId={config.chatbotId} />
          </main>
        );
      case 'rooms':
        return (
          <main class="app-main">
            <RoomsView client={client} roomId={current.roomId} />
          </main>
        );
      case 'source':
        return (
          <main class="app-main">
            <PassageView
              client={client}
              chunkId={current.chunkId}
              chatbotId={current.chatbotId}
              mark={current.mark}
            />
          </main>
        );
      case 'chat':
        return (
          <div class="app-body">
            <aside id="app-sidebar" class="app-sidebar" aria-label="Conversations">
              <ConversationList client={client} chat={chat} onNew={newChat} onOpen={() => setDrawer(false)} />
            </aside>
            {drawer ? <div class="app-backdrop" aria-hidden="true" onClick={() => setDrawer(false)} /> : null}
            <main class="app-main">
              <ChatPanel
                chat={chat}
                greeting="Ask a question about your documents. Answers cite their sources."
                starters={config.starters}
                composerId={COMPOSER_ID}
                diagnose={admin ? diagnose : undefined}
              />
            </main>
          </div>
        );
    }
  }
}

function focusComposer(): void {
  requestAnimationFrame(() => document.getElementById(COMPOSER_ID)?.focus());
}

function startNew(chat: UseChat): void {
  chat.reset();
  history.replaceState(null, '', '#/');
}

async function loadConfig(): Promise<AppConfig> {
  const fallback: AppConfig = {
    streaming: true,
    chatbotId: 'default',
    title: 'Rivulet',
    auth: 'open',
    starters: [],
  };
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
