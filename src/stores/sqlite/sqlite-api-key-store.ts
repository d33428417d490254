// API keys in SQLite, their secrets kept as api-key-secrets.ts says (a SHA-256, compared in constant time).

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { API_KEY_PATTERN, type ApiKey, type ApiKeyStore, type NewApiKey } from '../../core/api-keys.ts';
import { lastUseIsStale, newApiKeySecret, secretMatches } from '../api-key-secrets.ts';
import { toApiKey, type ApiKeyRow } from '../rows/api-keys.ts';
import { sqliteColumns, type SqliteColumnTypes } from '../rows/columns.ts';

type Row = ApiKeyRow<SqliteColumnTypes>;

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
    const { id, hash, token } = newApiKeySecret();
    const row = this.statements.insert.get(
      id,
      input.name,
      input.orgId,
      input.admin ? 1 : 0,
      hash,
      Date.now(),
    ) as unknown as Row;
    return { key: toApiKey(row, sqliteColumns), token };
  }

  async verifyApiKey(token: string): Promise<ApiKey | undefined> {
    const match = API_KEY_PATTERN.exec(token);
    if (match === null) return undefined;
    const row = this.statements.get.get(match[1] ?? '') as Row | undefined;
    if (row === undefined || row.revoked_at !== null) return undefined;
    if (!secretMatches(row.secret_hash, match[2] ?? '')) return undefined;
    const now = Date.now();
    if (lastUseIsStale(row.last_used_at, now)) {
      this.statements.touch.run(now, row.id);
      row.last_used_at = now;
    }
    return toApiKey(row, sqliteColumns);
  }

  async listApiKeys(options: { orgId?: string | null } = {}): Promise<ApiKey[]> {
    const rows =
      options.orgId === undefined ? this.statements.list.all() : this.statements.listOrg.all(options.orgId);
    return (rows as unknown as Row[]).map((row) => toApiKey(row, sqliteColumns));
  }

  async getApiKey(id: string): Promise<ApiKey | undefined> {
    const row = this.statements.get.get(id) as Row | undefined;
    return row === undefined ? undefined : toApiKey(row, sqliteColumns);
  }

  async revokeApiKey(id: string): Promise<boolean> {
    return Number(this.statements.revoke.run(Date.now(), id).changes) > 0;
  }
}
