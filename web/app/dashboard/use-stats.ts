// Polls GET /api/stats for a filter: at once, on each filter change, then every 5 s while the page is visible.

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { RivuletClientError, type RivuletClient, type StatsResponse } from '../../client/index.ts';

export const REFRESH_MS = 5_000;

export interface StatsState {
  stats: StatsResponse | null;
  /** The last refresh's failure (the last figures stay shown). */
  error: { code: string; message: string } | null;
  updatedAt: number | null;
}

export function useStats(
  client: RivuletClient,
  filter: { chatbotId?: string; provider?: string },
): StatsState {
  const [state, setState] = useState<StatsState>({ stats: null, error: null, updatedAt: null });
  // Only the answer to the latest request is shown (a slow one for an old filter must not overwrite it).
  const latest = useRef(0);
  const { chatbotId, provider } = filter;

  const refresh = useCallback(() => {
    const request = ++latest.current;
    client
      .stats({
        ...(chatbotId === undefined ? {} : { chatbotId }),
        ...(provider === undefined ? {} : { provider }),
      })
      .then(
        (stats) => {
          if (request === latest.current) setState({ stats, error: null, updatedAt: Date.now() });
        },
        (failure: unknown) => {
          if (request !== latest.current) return;
          const error =
            failure instanceof RivuletClientError
              ? { code: failure.code, message: failure.message }
              : { code: 'UNKNOWN', message: 'The statistics could not be read.' };
          setState((previous) => ({ ...previous, error }));
        },
      );
  }, [client, chatbotId, provider]);

  useEffect(() => {
    refresh();
    const timer = setInterval(() => {
      if (!document.hidden) refresh();
    }, REFRESH_MS);
    const onVisibility = (): void => {
      if (!document.hidden) refresh();
    };
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [refresh]);

  return state;
}
