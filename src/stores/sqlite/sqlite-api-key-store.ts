// API keys in SQLite: only a SHA-256 of each secret is kept (the secrets are 256 random bits, so a slow password
// hash would add nothing but latency to every request), compared in constant time.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { API_KEY_PATTERN, type ApiKey, type ApiKeyStore, type NewApiKey } from '../../core/api-keys.ts';

interface ApiKeyRow {
  id: string;
  name: string;
  org_id: string | null;
  admin: number;
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
    admin: row.admin === 1,
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

export class SqliteApiKeyStore implements ApiKeyStore {
  private readonly statements: Record<
    'insert' | 'get' | 'list' | 'listOrg' | 'revoke' | 'touch',
    StatementSync
  >;

  constructor(db: DatabaseSync) {
    this.statements = {
      insert: db.prepare(
        'INSERT INTO api_keys (id, name, org_id, admin, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING *',
      ),
      get: db.prepare('SELECT * FROM api_keys WHERE id = ?'),
      list: db.prepare('SELECT * FROM api_keys ORDER BY created_at DESC, id'),
      listOrg: db.prepare('SELECT * FROM api_keys WHERE org_id IS ? ORDER BY created_at DESC, id'),
      revoke: db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      touch: db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?'),
    };
  }

  async createApiKey(input: { name: string; orgId: string | null; admin: boolean }): Promise<NewApiKey> {
    const id = newId();
    const secret = randomBytes(32).toString('base64url');
    const row = this.statements.insert.get(
      id,
      input.name,
      input.orgId,
      input.admin ? 1 : 0,
      hashSecret(secret),
      Date.now(),
    ) as unknown as ApiKeyRow;
    return { key: toApiKey(row), token: `rk_${id}_${secret}` };
  }

  async verifyApiKey(token: string): Promise<ApiKey | undefined> {
    const match = API_KEY_PATTERN.exec(token);
    if (match === null) return undefined;
    const row = this.statements.get.get(match[1] ?? '') as ApiKeyRow | undefined;
    if (row === undefined || row.revoked_at !== null) return undefined;
    const stored = Buffer.from(row.secret_hash);
    const given = hashSecret(match[2] ?? '');
    if (stored.length !== given.length || !timingSafeEqual(stored, given)) return undefined;
    const now = Date.now();
    if (row.last_used_at === null || now - row.last_used_at > LAST_USED_RESOLUTION_MS) {
      this.statements.touch.run(now, row.id);
      row.last_used_at = now;
    }
    return toApiKey(row);
  }

  async listApiKeys(options: { orgId?: string | null } = {}): Promise<ApiKey[]> {
    const rows =
      options.orgId === undefined ? this.statements.list.all() : this.statements.listOrg.all(options.orgId);
    return (rows as unknown as ApiKeyRow[]).map(toApiKey);
  }

  async getApiKey(id: string): Promise<ApiKey | undefined> {
    const row = this.statements.get.get(id) as ApiKeyRow | undefined;
    return row === undefined ? undefined : toApiKey(row);
  }

  async revokeApiKey(id: string): Promise<boolean> {
    return Number(this.statements.revoke.run(Date.now(), id).changes) > 0;
  }
}
