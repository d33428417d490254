// Where the stores live. Today one SQLite file under DATA_DIR; a PostgreSQL backend adds DATABASE_URL (and its pool
// size) here, and openStores (src/stores/open-stores.ts) picks the backend from these settings.

import { z } from 'zod';

export const storageSchema = z.object({
  DATA_DIR: z.string().trim().min(1).default('./data'),
});
export type StorageValues = z.infer<typeof storageSchema>;

export interface StorageSettings {
  /** Directory of the SQLite file, or ":memory:" for a database that lives as long as the process (tests). */
  dataDir: string;
}

export function resolveStorage(values: StorageValues): StorageSettings {
  return { dataDir: values.DATA_DIR };
}
