// Migrations on a real PostgreSQL server: instances starting together, a database from a newer release, a failed
// migration.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../../../test/helpers/postgres.ts';
import { connect, migrate, schemaVersion, type Sql } from './database.ts';
import { MIGRATIONS } from './migrations.ts';

describe.skipIf(postgresSkipReason !== undefined)('postgres migrations', () => {
  let database: TestDatabase;
  const pools: Sql[] = [];
  const pool = (): Sql => {
    const sql = connect(database.url, { max: 2 });
    pools.push(sql);
    return sql;
  };
  beforeEach(async () => {
    database = await createTestDatabase('migrations');
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((sql) => sql.end({ timeout: 1 })));
    await database.drop();
  });

  it('lets three instances that start at once apply each migration exactly once', async () => {
    const results = await Promise.all([migrate(pool()), migrate(pool()), migrate(pool())]);
    // One of them migrated from 0; the others waited on the lock and found nothing left to do.
    expect(results.map((result) => result.from).sort()).toEqual([0, MIGRATIONS.length, MIGRATIONS.length]);
    expect(results.every((result) => result.to === MIGRATIONS.length)).toBe(true);
    const sql = pool();
    const applied = await sql<{ version: number }[]>`SELECT version FROM rivulet_migrations ORDER BY version`;
    expect(applied.map((row) => row.version)).toEqual(MIGRATIONS.map((_, index) => index + 1));
    expect(await schemaVersion(sql)).toBe(MIGRATIONS.length);
  });

  it('applies only the migrations a database lacks', async () => {
    const sql = pool();
    await migrate(sql, MIGRATIONS);
    const next = [...MIGRATIONS, 'CREATE TABLE later_feature (id TEXT PRIMARY KEY)'];
    expect(await migrate(sql, next)).toEqual({ from: MIGRATIONS.length, to: next.length });
    expect(await schemaVersion(sql)).toBe(next.length);
    expect(await migrate(sql, next)).toEqual({ from: next.length, to: next.length });
  });

  it('refuses a database a newer release migrated, naming both versions', async () => {
    const sql = pool();
    await migrate(sql, [...MIGRATIONS, 'CREATE TABLE from_the_future (id TEXT)']);
    await expect(migrate(sql, MIGRATIONS)).rejects.toMatchObject({
      code: 'DATABASE_TOO_NEW',
      message: expect.stringMatching(
        new RegExp(`version ${MIGRATIONS.length + 1}.*\\(${MIGRATIONS.length}\\)`),
      ) as unknown,
    });
  });

  it('leaves the database as it was when a migration fails', async () => {
    const sql = pool();
    await migrate(sql, MIGRATIONS);
    const broken = [
      ...MIGRATIONS,
      'CREATE TABLE half_done (id TEXT); ALTER TABLE conversations ADD COLUMN pinned BOOLEAN',
      'SELECT no_such_function()',
    ];
    await expect(migrate(sql, broken)).rejects.toThrow(`migration ${MIGRATIONS.length + 2} failed`);
    await expect(migrate(sql, broken)).rejects.toMatchObject({ code: 'MIGRATION_FAILED' });
    expect(await schemaVersion(sql)).toBe(MIGRATIONS.length);
    const [row] = await sql<{ table: string | null; column: number }[]>`
      SELECT to_regclass('half_done')::text AS table,
        (SELECT count(*)::int FROM information_schema.columns
          WHERE table_name = 'conversations' AND column_name = 'pinned') AS column`;
    expect(row).toEqual({ table: null, column: 0 });
  });

  it('reports an unreachable server as STORE_UNAVAILABLE', async () => {
    const sql = connect('postgres://postgres@127.0.0.1:1/none', { max: 1, connectTimeoutSeconds: 2 });
    pools.push(sql);
    await expect(migrate(sql)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });
});
