// API keys for server-to-server use: created by an admin (CLI or API), shown once, stored only as a hash, revocable.
// A key reads `rk_<id>_<secret>`: the id finds the record, the secret is compared with its stored hash.

export interface ApiKey {
  id: string;
  name: string;
  /** The organisation the key acts for; null: none (with admin, every organisation). */
  orgId: string | null;
  admin: boolean;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface NewApiKey {
  key: ApiKey;
  /** The whole key, `rk_<id>_<secret>`: returned once, never stored. */
  token: string;
}

export interface ApiKeyStore {
  createApiKey(input: { name: string; orgId: string | null; admin: boolean }): Promise<NewApiKey>;
  /** The key a token belongs to, if it is well-formed, known, not revoked and its secret matches. */
  verifyApiKey(token: string): Promise<ApiKey | undefined>;
  /** Newest first; with `orgId`, that organisation's keys only. */
  listApiKeys(options?: { orgId?: string | null }): Promise<ApiKey[]>;
  getApiKey(id: string): Promise<ApiKey | undefined>;
  /** False when the key does not exist or was already revoked. */
  revokeApiKey(id: string): Promise<boolean>;
}

/** What an API key looks like, so a bearer token can be told from a JWT without trying both. */
export const API_KEY_PATTERN = /^rk_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
