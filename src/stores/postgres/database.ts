// The PostgreSQL connection pool (the `postgres` driver; docs/postgres.md says why, with figures), the mapping of
// connection failures to STORE_UNAVAILABLE, and versioned migrations applied under an advisory lock.

import postgres, { type Sql } from 'postgres';
import { RivuletError } from '../../core/errors.ts';
import { MIGRATIONS } from './migrations.ts';

export type { Sql };

export interface ConnectOptions {
  /** Connections this process keeps at most (DATABASE_POOL_MAX). */
  max: number;
  /** Seconds to wait for a connection to open before a call fails with STORE_UNAVAILABLE. */
  connectTimeoutSeconds?: number;
  /**
   * Seconds one query may wait for a connection and run before it is cancelled: the backstop for a server or network
   * that goes silent, which TCP alone notices only after minutes.
   */
  queryTimeoutSeconds?: number;
}

/** BIGINT columns hold millisecond timestamps and counts, all well inside Number's exact range. */
const BIGINT_AS_NUMBER = {
  to: 20,
  from: [20],
  serialize: (value: number | bigint) => String(value),
  parse: (value: string) => Number(value),
};

/** Opens a lazy pool: nothing connects until the first query. */
export function connect(url: string, options: ConnectOptions): Sql {
  return postgres(url, {
    max: options.max,
    connect_timeout: options.connectTimeoutSeconds ?? 5,
    query_timeout: options.queryTimeoutSeconds ?? 30,
    idle_timeout: 60,
    onnotice: () => {},
    types: { bigint: BIGINT_AS_NUMBER },
    // JIT compiling pays off for long analytical queries, never for the stores' short ones (it cost a lexical merge
    // 100-200 ms).
    connection: { application_name: 'rivulet', jit: 'off' },
  });
}

/** Driver and server error codes that mean the database cannot be reached (not that a query was wrong). */
const UNREACHABLE_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'QUERY_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  // SQLSTATE: admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections.
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

/** True when `error` says the database is unreachable (class 08 is SQLSTATE's connection exceptions). */
export function isUnreachable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  const errors = (error as { errors?: unknown }).errors;
  if (Array.isArray(errors)) return errors.some(isUnreachable);
  return isUnreachable((error as { cause?: unknown }).cause);
}

/** A connection failure becomes STORE_UNAVAILABLE (503, retryable); any other error passes through unchanged. */
export function storeError(error: unknown): unknown {
  if (error instanceof RivuletError || !isUnreachable(error)) return error;
  const code = (error as { code?: unknown }).code;
  return new RivuletError('STORE_UNAVAILABLE', {
    detail: typeof code === 'string' ? code : undefined,
    cause: error,
  });
}

/**
 * Wraps every method of a store so that a lost database surfaces as STORE_UNAVAILABLE, whichever call hit it. The
 * stores themselves stay plain SQL.
 */
export function guardStore<T extends object>(store: T): T {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return function guarded(this: unknown, ...args: unknown[]) {
        const result: unknown = (value as (...params: unknown[]) => unknown).apply(target, args);
        if (result instanceof Promise) {
          return result.catch((error: unknown) => {
            throw storeError(error);
          });
        }
        return result;
      };
    },
  });
}

/** Key of the advisory lock that serialises migrations across every instance sharing the database. */
const MIGRATION_LOCK = 0x7269_7675; // "rivu"

export interface MigrationResult {
  /** Schema version before. */
  from: number;
  /** Schema version now (the code's latest). */
  to: number;
}

/**
 * Brings the schema to the code's version. Every pending migration runs in one transaction that first takes an
 * advisory lock, so instances starting together apply each migration once, in order, and a migration that fails
 * leaves the database exactly as it was. A database migrated by newer code is refused (DATABASE_TOO_NEW): this code
 * would not know its tables.
 */
export async function migrate(
  sql: Sql,
  migrations: readonly string[] = MIGRATIONS,
): Promise<MigrationResult> {
  try {
    return await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK}::bigint)`;
      await tx`
        CREATE TABLE IF NOT EXISTS rivulet_migrations (
          version INTEGER PRIMARY KEY,
          applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )`;
      const [row] = await tx<
        { version: number | null }[]
      >`SELECT max(version) AS version FROM rivulet_migrations`;
      const from = row?.version ?? 0;
      if (from > migrations.length) {
        throw new RivuletError('DATABASE_TOO_NEW', {
          message:
            `The database's schema is version ${from}, newer than this Rivulet knows (${migrations.length}): ` +
            'a newer release has migrated it. Run that release (or newer) against this database.',
        });
      }
      for (let version = from + 1; version <= migrations.length; version += 1) {
        try {
          await tx.unsafe(migrations[version - 1] as string);
        } catch (error) {
          // A lost connection is the database going away, not this migration failing.
          if (isUnreachable(error)) throw error;
          throw new RivuletError('MIGRATION_FAILED', {
            message: `database migration ${version} failed: ${(error as Error).message}`,
            cause: error,
          });
        }
        await tx`INSERT INTO rivulet_migrations (version) VALUES (${version})`;
      }
      return { from, to: Math.max(from, migrations.length) };
    });
  } catch (error) {
    throw storeError(error);
  }
}

/** The schema version the database holds (0 for a database Rivulet never migrated). */
export async function schemaVersion(sql: Sql): Promise<number> {
  const [table] = await sql<
    { exists: boolean }[]
  >`SELECT to_regclass('rivulet_migrations') IS NOT NULL AS exists`;
  if (table?.exists !== true) return 0;
  const [row] = await sql<
    { version: number | null }[]
  >`SELECT max(version) AS version FROM rivulet_migrations`;
  return row?.version ?? 0;
}

export interface VectorSupport {
  available: boolean;
  error?: string;
}

/**
 * Turns on pgvector when the server has it: CREATE EXTENSION needs the extension installed on the server and the
 * right to create it. Without it vector search is off (lexical only), and the reason is returned to be said once.
 */
export async function enableVectors(sql: Sql): Promise<VectorSupport> {
  try {
    const [installed] = await sql<{ installed: boolean }[]>`
      SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') AS installed`;
    if (installed?.installed === true) return { available: true };
    const [available] = await sql<{ available: boolean }[]>`
      SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') AS available`;
    if (available?.available !== true) {
      return { available: false, error: 'the pgvector extension is not installed on this PostgreSQL server' };
    }
    await sql`CREATE EXTENSION IF NOT EXISTS vector`;
    return { available: true };
  } catch (error) {
    if (isUnreachable(error)) throw storeError(error);
    return { available: false, error: `pgvector could not be enabled: ${(error as Error).message}` };
  }
}

/** PostgreSQL text cannot hold NUL characters: they are stored as U+FFFD, the replacement character. */
export function pgText(value: string): string {
  return value.includes('\0') ? value.replaceAll('\0', '\uFFFD') : value;
}

/**
 * `value` as JSON text for a `${...}::text::jsonb` parameter (a plain `::jsonb` one would be encoded as a JSON string),
 * NUL characters in strings and keys stored as U+FFFD (jsonb refuses \u0000).
 */
export function pgJson(value: unknown): string {
  const text = JSON.stringify(value);
  // JSON.stringify writes NUL as the escape \u0000. Its backslash follows an even run of backslashes (or none);
  // after an odd run that backslash is itself escaped, and "u0000" is literal text to keep.
  if (!text.includes('\\u0000')) return text;
  return text.replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd');
}
