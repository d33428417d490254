// Who a request acts for, and the one set of rules for what they may reach. Every run, conversation and document
// belongs to a principal's id; someone else's is "not found", so ids cannot be probed.

import type { Chatbot } from './chatbots.ts';

export type PrincipalKind = 'local' | 'user' | 'api-key' | 'anonymous';

export interface Principal {
  /**
   * Owner id of what this principal creates: `user:<sub>`, `key:<keyId>`, `anon:<sessionId>`; null for the open
   * local install (one user, no auth), which is also the owner of everything created before auth was turned on.
   */
  id: string | null;
  kind: PrincipalKind;
  /** The organisation (JWT claim or the API key's); null: none (local, anonymous, or a user without one). */
  orgId: string | null;
  /** May manage chatbots, documents and API keys, and read the dashboard. */
  admin: boolean;
  /** Anonymous principals: the page's Origin, which a public chatbot must allow. */
  origin?: string | undefined;
  /** What per-principal limits and budgets count by, when not `id` (anonymous visitors: their address). */
  limitKey?: string | undefined;
}

/** The open local install: one user, who administers everything. */
export const LOCAL_PRINCIPAL: Principal = { id: null, kind: 'local', orgId: null, admin: true };

/** Admins without an organisation manage every chatbot; others see their organisation's and the shared ones. */
export function inOrganisation(principal: Principal, chatbot: Pick<Chatbot, 'orgId'>): boolean {
  if (principal.kind === 'anonymous') return false;
  if (principal.admin && principal.orgId === null) return true;
  return chatbot.orgId === null || chatbot.orgId === principal.orgId;
}

/**
 * May this principal manage (edit, upload to, delete from) the chatbot? Its organisation's admins may; shared
 * chatbots (no organisation, like `default`) only admins of no organisation, since every organisation uses them.
 */
export function canManage(principal: Principal, chatbot: Pick<Chatbot, 'orgId'>): boolean {
  if (!principal.admin || principal.kind === 'anonymous') return false;
  return principal.orgId === null || chatbot.orgId === principal.orgId;
}

/**
 * May this principal talk to the chatbot? Members of its organisation may; anonymous visitors only when the chatbot
 * is public and their page's origin is one it allows. Returns the refusal, or undefined when allowed.
 */
export function chatRefusal(
  principal: Principal,
  chatbot: Pick<Chatbot, 'orgId' | 'visibility' | 'allowedOrigins'>,
): 'not-found' | 'origin' | undefined {
  if (principal.kind !== 'anonymous') return inOrganisation(principal, chatbot) ? undefined : 'not-found';
  if (chatbot.visibility !== 'public') return 'not-found';
  const origin = principal.origin;
  return origin !== undefined && chatbot.allowedOrigins.includes(origin) ? undefined : 'origin';
}
