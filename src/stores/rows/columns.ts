// The column kinds whose values differ between backends, and the codec a backend reads them with. Row shapes and their
// mappings to domain objects (the other files here) are written once over these; each backend passes its codec.

/** How a backend returns JSON columns and flags: SQLite JSON as TEXT and flags as INTEGER 0/1, PostgreSQL jsonb values and booleans. */
export interface ColumnTypes {
  json: unknown;
  flag: unknown;
}

export interface ColumnCodec<C extends ColumnTypes> {
  /** A JSON column's value (never NULL: callers check), typed as the field it goes into. */
  json<T>(value: C['json']): T;
  flag(value: C['flag']): boolean;
}

/** node:sqlite on STRICT tables: JSON columns are TEXT, flags INTEGER 0/1. */
export interface SqliteColumnTypes {
  json: string;
  flag: number;
}

/** The postgres driver as connect() sets it up: jsonb parsed, BOOLEAN as boolean (and BIGINT as number). */
export interface PostgresColumnTypes {
  json: unknown;
  flag: boolean;
}

export const sqliteColumns: ColumnCodec<SqliteColumnTypes> = {
  json: <T>(text: string): T => JSON.parse(text) as T,
  flag: (value) => value === 1,
};

export const postgresColumns: ColumnCodec<PostgresColumnTypes> = {
  json: <T>(value: unknown): T => value as T,
  flag: (value) => value,
};
