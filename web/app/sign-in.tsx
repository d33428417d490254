// Where auth is required: the API key or JWT this browser sends, kept in localStorage.

import type { VNode } from 'preact';
import { useState } from 'preact/hooks';
import type { UseChat } from '../client/react.ts';

export const TOKEN_KEY = 'rivulet:token';

/** The last answer was refused for want of valid credentials. */
export function lastRefused(chat: UseChat): boolean {
  return chat.messages.at(-1)?.error?.code === 'UNAUTHORIZED';
}

/**
 * Where auth is required: the API key or JWT this browser sends, kept in localStorage (sign-in pages of your own
 * identity provider can put a JWT there too). Shown open when there is none or the server refused it.
 */
export function SignIn({ refused }: { refused: boolean }): VNode {
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
