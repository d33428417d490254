// API keys in PostgreSQL, their secrets kept as api-key-secrets.ts says (a SHA-256, compared in constant time here
// rather than by the server).

import { API_KEY_PATTERN, type ApiKey, type ApiKeyStore, type NewApiKey } from '../../core/api-keys.ts';
import { lastUseIsStale, newApiKeySecret, secretMatches } from '../api-key-secrets.ts';
import { toApiKey, type ApiKeyRow } from '../rows/api-keys.ts';
import { postgresColumns, type PostgresColumnTypes } from '../rows/columns.ts';
import { pgText, type Sql } from './database.ts';

type Row = ApiKeyRow<PostgresColumnTypes>;

export class PostgresApiKeyStore implements ApiKeyStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  async createApiKey(input: { name: string; orgId: string | null; admin: boolean }): Promise<NewApiKey> {
    const { id, hash, token } = newApiKeySecret();
    const [row] = await this.sql<Row[]>`
      INSERT INTO api_keys (id, name, org_id, admin, secret_hash, created_at)
      VALUES (${id}, ${pgText(input.name)}, ${input.orgId === null ? null : pgText(input.orgId)}, ${input.admin},
        ${hash}, ${Date.now()})
      RETURNING *`;
    if (row === undefined) throw new Error('the API key was not stored');
    return { key: toApiKey(row, postgresColumns), token };
  }

  async verifyApiKey(token: string): Promise<ApiKey | undefined> {
    const match = API_KEY_PATTERN.exec(token);
    if (match === null) return undefined;
    const [row] = await this.sql<Row[]>`SELECT * FROM api_keys WHERE id = ${match[1] ?? ''}`;
    if (row === undefined || row.revoked_at !== null) return undefined;
    if (!secretMatches(row.secret_hash, match[2] ?? '')) return undefined;
    const now = Date.now();
    if (lastUseIsStale(row.last_used_at, now)) {
      await this.sql`UPDATE api_keys SET last_used_at = ${now} WHERE id = ${row.id}`;
      row.last_used_at = now;
    }
    return toApiKey(row, postgresColumns);
  }

  async listApiKeys(options: { orgId?: string | null } = {}): Promise<ApiKey[]> {
    const { orgId } = options;
    const filter =
      orgId === undefined
        ? this.sql``
        : orgId === null
          ? this.sql`WHERE org_id IS NULL`
          : this.sql`WHERE org_id = ${pgText(orgId)}`;
    const rows = await this.sql<Row[]>`SELECT * FROM api_keys ${filter} ORDER BY created_at DESC, id`;
    return rows.map((row) => toApiKey(row, postgresColumns));
  }

  async getApiKey(id: string): Promise<ApiKey | undefined> {
    const [row] = await this.sql<Row[]>`SELECT * FROM api_keys WHERE id = ${pgText(id)}`;
    return row === undefined ? undefined : toApiKey(row, postgresColumns);
  }

  async revokeApiKey(id: string): Promise<boolean> {
    const result = await this.sql`
      UPDATE api_keys SET revoked_at = ${Date.now()} WHERE id = ${pgText(id)} AND revoked_at IS NULL`;
    return result.count > 0;
  }
}
