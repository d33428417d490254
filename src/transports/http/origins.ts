// Which web pages may use this server: one rule for CORS (may a page read an answer?) and for the Origin guard (may a
// page change something or open a WebSocket?). A browser sends `Origin` with every cross-site POST and WebSocket, and
// neither a "simple" multipart POST nor a WebSocket upgrade waits for CORS: without the guard, any site a user visits
// could plant documents in, or talk over WebSocket to, an open local install.

import type { FastifyRequest } from 'fastify';
import type { ChatbotStore } from '../../core/chatbots.ts';
import { RivuletError } from '../../core/errors.ts';
import { isLoopbackHost, type Config } from '../../config.ts';

export interface OriginPolicy {
  /** `*`, or whether a cross-site page of this origin is allowed (CORS_ORIGINS, public chatbots, loopback pages). */
  readonly cors: '*' | ((origin: string) => Promise<boolean>);
  /**
   * Refuses (ORIGIN_NOT_ALLOWED) a browser request from a page that may not use the server. Requests without an
   * `Origin` (curl, SDKs, same-origin GETs) and from the server's own pages pass.
   */
  check(request: FastifyRequest): Promise<void>;
}

export function originPolicy(
  corsOrigins: Config['web']['corsOrigins'],
  authMode: Config['auth']['mode'],
  chatbots: Pick<ChatbotStore, 'listChatbots'>,
): OriginPolicy {
  const listed = Array.isArray(corsOrigins) ? new Set(corsOrigins) : undefined;
  const cors: OriginPolicy['cors'] =
    corsOrigins === '*' && authMode === 'required'
      ? '*'
      : async (origin) => {
          if (listed?.has(origin) === true) return true;
          // An open install serves one person, who administers everything and needs no credentials: pages on this
          // machine and the origins the operator listed, never a public chatbot's site (config refuses `*` there).
          if (authMode === 'open') return isLoopbackOrigin(origin);
          return (await chatbots.listChatbots()).some(
            (chatbot) => chatbot.visibility === 'public' && chatbot.allowedOrigins.includes(origin),
          );
        };
  return {
    cors,
    async check(request) {
      const origin = request.headers.origin;
      if (origin === undefined || cors === '*' || sameOrigin(origin, request.headers.host)) return;
      if (await cors(origin)) return;
      throw new RivuletError('ORIGIN_NOT_ALLOWED', {
        message: 'Pages from this site may not use this server: its admin can add the site to CORS_ORIGINS.',
        detail: `origin ${origin.slice(0, 200)}`,
      });
    },
  };
}

/** The page was served by this server: its origin names the host the request went to. */
function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    // `null` (sandboxed frames, file: pages) and anything else unparseable.
    return false;
  }
}

function isLoopbackOrigin(origin: string): boolean {
  try {
    return isLoopbackHost(new URL(origin).hostname);
  } catch {
    return false;
  }
}
