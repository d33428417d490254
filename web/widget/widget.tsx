// The embeddable widget: <script src="https://host/widget.js" data-chatbot="..."></script> adds a launcher and a
// chat panel to any page, inside a Shadow DOM so the page's styles and ours never meet. The conversation, whether
// the panel is open and the answer being streamed survive a reload (sessionStorage), and the answer is rejoined.

import { render, type VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { RivuletClient } from '../client/client.ts';
import { useChat } from '../client/react.ts';
import { ChatPanel } from '../ui/chat.tsx';
import chatCss from '../ui/chat.css?inline';
import widgetCss from './widget.css?inline';

export interface WidgetSettings {
  server: string;
  chatbotId: string;
  title: string;
  /** Shown before the first question (data-greeting). */
  greeting: string;
  placeholder: string | undefined;
  accent: string | undefined;
  theme: 'light' | 'dark' | 'auto';
  position: 'right' | 'left';
  transport: 'sse' | 'websocket';
  /** Undefined: ask the server (ENABLE_FRONTEND_STREAMING). */
  streaming: boolean | undefined;
  open: boolean;
  /** Developer figures under each answer (first token, tokens/s, timings): off unless data-stats is set. */
  stats: boolean;
}

/** What a visitor reads before asking anything, unless the site says otherwise (data-greeting). */
export const DEFAULT_GREETING = 'Hi! How can I help you today?';

export function readSettings(script: HTMLScriptElement | null): WidgetSettings {
  const data = script?.dataset ?? {};
  const server = data.server ?? (script?.src ? new URL(script.src, location.href).origin : location.origin);
  const bool = (value: string | undefined): boolean | undefined =>
    value === undefined ? undefined : value !== 'false' && value !== '0';
  return {
    server,
    chatbotId: data.chatbot ?? 'default',
    title: data.title ?? 'Ask us',
    greeting: data.greeting?.trim() || DEFAULT_GREETING,
    placeholder: data.placeholder,
    accent:
      data.accent !== undefined && /^#[\da-f]{3,8}$|^[a-z]+$/i.test(data.accent) ? data.accent : undefined,
    theme: data.theme === 'dark' || data.theme === 'light' ? data.theme : 'auto',
    position: data.position === 'left' ? 'left' : 'right',
    transport: data.transport === 'websocket' ? 'websocket' : 'sse',
    streaming: bool(data.streaming),
    open: bool(data.open) === true,
    // `data-stats` alone (an empty value) turns them on, like a boolean HTML attribute.
    stats: data.stats !== undefined && bool(data.stats || 'true') === true,
  };
}

function Widget({
  settings,
  client,
  streaming,
}: {
  settings: WidgetSettings;
  client: RivuletClient;
  streaming: boolean;
}): VNode {
  const openKey = `rivulet-widget:${settings.chatbotId}:open`;
  const [open, setOpen] = useState(() => settings.open || sessionStorage.getItem(openKey) === '1');
  const launcher = useRef<HTMLButtonElement>(null);
  const [dark, setDark] = useState(() =>
    settings.theme === 'auto'
      ? matchMedia('(prefers-color-scheme: dark)').matches
      : settings.theme === 'dark',
  );
  const chat = useChat({
    client,
    chatbotId: settings.chatbotId,
    streaming,
    transport: settings.transport,
    storage: sessionStorage,
    storageKey: `rivulet-widget:${settings.server}:${settings.chatbotId}`,
  });

  useEffect(() => {
    sessionStorage.setItem(openKey, open ? '1' : '0');
  }, [open]);
  useEffect(() => {
    if (settings.theme !== 'auto') return;
    const query = matchMedia('(prefers-color-scheme: dark)');
    const onChange = (): void => setDark(query.matches);
    query.addEventListener('change', onChange);
    return () => query.removeEventListener('change', onChange);
  }, []);

  const close = (): void => {
    setOpen(false);
    // Keyboard users land where they started (the panel and its focused composer are gone).
    launcher.current?.focus();
  };
  // Escape closes the panel; while an answer streams the composer's Escape stops it first (and says so by
  // preventing the default), so one press never does both.
  const onPanelKeyDown = (event: KeyboardEvent): void => {
    if (event.key !== 'Escape' || event.defaultPrevented) return;
    event.preventDefault();
    close();
  };

  const style = settings.accent === undefined ? undefined : { '--rv-accent': settings.accent };
  return (
    <div
      class={`rv-root rv-widget rv-${settings.position}`}
      data-theme={dark ? 'dark' : 'light'}
      style={style}
    >
      {open ? (
        <section class="rv-panel" role="dialog" aria-label={settings.title} onKeyDown={onPanelKeyDown}>
          <header class="rv-panel-header">
            <span class="rv-panel-title">{settings.title}</span>
            <button
              type="button"
              class="rv-header-button"
              aria-label="New conversation"
              title="New conversation"
              disabled={chat.messages.length === 0}
              onClick={() => chat.reset()}
            >
              +
            </button>
            <button type="button" class="rv-header-button" aria-label="Close chat" onClick={close}>
              ×
            </button>
          </header>
          <ChatPanel
            chat={chat}
            greeting={settings.greeting}
            placeholder={settings.placeholder ?? 'Ask a question…'}
            showStats={settings.stats}
          />
        </section>
      ) : null}
      <button
        ref={launcher}
        type="button"
        class="rv-launcher"
        aria-label={open ? 'Close chat' : 'Open chat'}
        aria-expanded={open}
        onClick={() => setOpen(!open)}
      >
        {open ? '×' : '?'}
      </button>
    </div>
  );
}

function visitorSession(): string {
  const key = 'rivulet-widget:session';
  try {
    const saved = localStorage.getItem(key);
    if (saved !== null && /^[\w-]{16,128}$/.test(saved)) return saved;
    const fresh = randomId();
    localStorage.setItem(key, fresh);
    return fresh;
  } catch {
    // Storage blocked (a sandboxed frame): a session for this page view only.
    return randomId();
  }
}

/** 128 random bits as hex (getRandomValues works on plain-http pages too, where randomUUID does not exist). */
function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) =>
    byte.toString(16).padStart(2, '0'),
  ).join('');
}

async function serverStreaming(client: RivuletClient): Promise<boolean> {
  try {
    const response = await client.request('/api/config');
    return ((await response.json()) as { streaming?: boolean }).streaming !== false;
  } catch {
    return true;
  }
}

async function mount(script: HTMLScriptElement | null): Promise<void> {
  const settings = readSettings(script);
  // An anonymous visitor of a public chatbot is known by a random session id kept in this browser.
  const sessionId = visitorSession();
  const client = new RivuletClient({ baseUrl: settings.server, headers: { 'x-session-id': sessionId } });
  const streaming = settings.streaming ?? (await serverStreaming(client));
  const host = document.createElement('div');
  host.id = 'rivulet-widget';
  document.body.appendChild(host);
  const shadow = host.attachShadow({ mode: 'open' });
  const style = document.createElement('style');
  style.textContent = chatCss + widgetCss;
  shadow.appendChild(style);
  const container = document.createElement('div');
  shadow.appendChild(container);
  render(<Widget settings={settings} client={client} streaming={streaming} />, container);
}

const current = document.currentScript as HTMLScriptElement | null;
const start = (): void => void mount(current);
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
else start();
