// API keys in PostgreSQL: only a SHA-256 of each secret is kept (the secrets are 256 random bits, so a slow password
// hash would add nothing but latency to every request), compared in constant time here rather than by the server.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { API_KEY_PATTERN, type ApiKey, type ApiKeyStore, type NewApiKey } from '../../core/api-keys.ts';
import { pgText, type Sql } from './database.ts';

interface ApiKeyRow {
  id: string;
  name: string;
  org_id: string | null;
  admin: boolean;
  secret_hash: Uint8Array;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** last_used_at is written at most this often per key, so a busy key does not write on every request. */
const LAST_USED_RESOLUTION_MS = 60_000;

function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    name: row.name,
    orgId: row.org_id,
    admin: row.admin,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

function newId(): string {
  const bytes = randomBytes(12);
  return Array.from(bytes, (byte) => ID_ALPHABET[byte % ID_ALPHABET.length]).join('');
}

export class PostgresApiKeyStore implements ApiKeyStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  async createApiKey(input: { name: string; orgId: string | null; admin: boolean }): Promise<NewApiKey> {
    const id = newId();
    const secret = randomBytes(32).toString('base64url');
    const [row] = await this.sql<ApiKeyRow[]>`
      INSERT INTO api_keys (id, name, org_id, admin, secret_hash, created_at)
      VALUES (${id}, ${pgText(input.name)}, ${input.orgId === null ? null : pgText(input.orgId)}, ${input.admin},
        ${hashSecret(secret)}, ${Date.now()})
      RETURNING *`;
    if (row === undefined) throw new Error('the API key was not stored');
    return { key: toApiKey(row), token: `rk_${id}_${secret}` };
  }

  async verifyApiKey(token: string): Promise<ApiKey | undefined> {
    const match = API_KEY_PATTERN.exec(token);
    if (match === null) return undefined;
    const [row] = await this.sql<ApiKeyRow[]>`SELECT * FROM api_keys WHERE id = ${match[1] ?? ''}`;
    if (row === undefined || row.revoked_at !== null) return undefined;
    const stored = Buffer.from(row.secret_hash);
    const given = hashSecret(match[2] ?? '');
    if (stored.length !== given.length || !timingSafeEqual(stored, given)) return undefined;
    const now = Date.now();
    if (row.last_used_at === null || now - row.last_used_at > LAST_USED_RESOLUTION_MS) {
      await this.sql`UPDATE api_keys SET last_used_at = ${now} WHERE id = ${row.id}`;
      row.last_used_at = now;
    }
    return toApiKey(row);
  }

  async listApiKeys(options: { orgId?: string | null } = {}): Promise<ApiKey[]> {
    const { orgId } = options;
    const filter =
      orgId === undefined
        ? this.sql``
        : orgId === null
          ? this.sql`WHERE org_id IS NULL`
          : this.sql`WHERE org_id = ${pgText(orgId)}`;
    const rows = await this.sql<ApiKeyRow[]>`SELECT * FROM api_keys ${filter} ORDER BY created_at DESC, id`;
    return rows.map(toApiKey);
  }

  async getApiKey(id: string): Promise<ApiKey | undefined> {
    const [row] = await this.sql<ApiKeyRow[]>`SELECT * FROM api_keys WHERE id = ${pgText(id)}`;
    return row === undefined ? undefined : toApiKey(row);
  }

  async revokeApiKey(id: string): Promise<boolean> {
    const result = await this.sql`
      UPDATE api_keys SET revoked_at = ${Date.now()} WHERE id = ${pgText(id)} AND revoked_at IS NULL`;
    return result.count > 0;
  }
}
