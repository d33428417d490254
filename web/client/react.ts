// The React hook: a ChatSession's snapshot as state, re-rendered at most once per animation frame.
// React is a peer dependency of this entry only; the web app and the widget use it through Preact's hooks.

import { useCallback, useEffect, useRef, useState } from 'react';
import type { RivuletClient } from './client.ts';
import { ChatSession, type SessionSnapshot, type SessionStorageLike } from './session.ts';

export interface UseChatOptions {
  client: RivuletClient;
  chatbotId?: string;
  streaming?: boolean;
  transport?: 'sse' | 'websocket';
  /** Pass `sessionStorage` to survive reloads (and rejoin an answer that was streaming). */
  storage?: SessionStorageLike;
  storageKey?: string;
}

export interface UseChat extends SessionSnapshot {
  send(question: string): Promise<void>;
  stop(): Promise<void>;
  regenerate(): Promise<void>;
  open(conversationId: string): Promise<void>;
  reset(): void;
  session: ChatSession;
}

export function useChat(options: UseChatOptions): UseChat {
  const sessionRef = useRef<ChatSession | null>(null);
  sessionRef.current ??= new ChatSession(options);
  const session = sessionRef.current;
  const [snapshot, setSnapshot] = useState<SessionSnapshot>(session.snapshot);

  useEffect(() => {
    const unsubscribe = session.subscribe(setSnapshot);
    void session.restore();
    return () => {
      unsubscribe();
      session.dispose();
    };
  }, [session]);

  const send = useCallback((question: string) => session.send(question), [session]);
  const stop = useCallback(() => session.stop(), [session]);
  const regenerate = useCallback(() => session.regenerate(), [session]);
  const open = useCallback((id: string) => session.open(id), [session]);
  const reset = useCallback(() => session.reset(), [session]);
  return { ...snapshot, send, stop, regenerate, open, reset, session };
}
