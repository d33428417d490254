// Opens an installation for export or import from the configuration, the way openStores does: PostgreSQL when
// DATABASE_URL is set (migrated to the code's schema first), otherwise the SQLite file under DATA_DIR.

import { databasePath, type StoreConfig } from '../open-stores.ts';
import { openPostgresTransfer } from './postgres/postgres-transfer.ts';
import { openSqliteTransfer } from './sqlite/sqlite-transfer.ts';
import type { TransferSource, TransferTarget } from './transfer-backend.ts';

export type TransferBackend = TransferSource & TransferTarget;

export async function openTransfer(config: StoreConfig): Promise<TransferBackend> {
  if (config.databaseUrl !== undefined) return openPostgresTransfer(config.databaseUrl);
  return openSqliteTransfer(databasePath(config.dataDir));
}
