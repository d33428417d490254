// An api_keys row and the ApiKey it holds, for every backend. The secret's hash stays in the row: it is compared, never
// handed out.

import type { ApiKey } from '../../core/api-keys.ts';
import type { ColumnCodec, ColumnTypes } from './columns.ts';

export interface ApiKeyRow<C extends ColumnTypes> {
  id: string;
  name: string;
  org_id: string | null;
  admin: C['flag'];
  secret_hash: Uint8Array;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export function toApiKey<C extends ColumnTypes>(row: ApiKeyRow<C>, columns: ColumnCodec<C>): ApiKey {
  return {
    id: row.id,
    name: row.name,
    orgId: row.org_id,
    admin: columns.flag(row.admin),
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}
