// `rivulet migrate`: the schema brought to this release's version without starting the server, on SQLite and on
// PostgreSQL, and the refusals a user can meet (a database a newer release migrated, a server that does not answer).

import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rivulet } from '../helpers/cli.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../helpers/postgres.ts';

let cwd: string;
beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), 'rivulet-migrate-'));
});
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

describe('rivulet migrate on SQLite', () => {
  it('reports pending migrations with --check, applies them, then has nothing to do', async () => {
    const dataDir = join(cwd, 'fresh');
    const check = await rivulet(['migrate', '--check'], cwd, dataDir);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/schema version 0, \d+ migration\(s\) pending/);

    const applied = await rivulet(['migrate'], cwd, dataDir);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/rivulet\.sqlite: migrated from schema version 0 to \d+/);

    const again = await rivulet(['migrate'], cwd, dataDir);
    expect(again.stdout).toMatch(/already up to date/);
    const checked = await rivulet(['migrate', '--check'], cwd, dataDir);
    expect(checked.code).toBe(0);
    expect(checked.stdout).toMatch(/up to date/);
  });

  it('refuses a database file a newer release migrated, at migrate and at start, without a stack trace', async () => {
    const dataDir = join(cwd, 'newer');
    expect((await rivulet(['migrate'], cwd, dataDir)).code).toBe(0);
    const db = new DatabaseSync(join(dataDir, 'rivulet.sqlite'));
    db.exec('PRAGMA user_version = 99');
    db.close();
    for (const command of [['migrate'], ['serve']]) {
      const refused = await rivulet(command, cwd, dataDir, { PORT: '0' });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/schema is version 99, newer than this Rivulet knows/);
      expect(refused.stderr).not.toMatch(/\n\s+at /);
    }
  });
});

describe.skipIf(postgresSkipReason !== undefined)('rivulet migrate on PostgreSQL', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('migrate_cli');
  });
  afterAll(async () => {
    await database.drop();
  });

  it('migrates the database DATABASE_URL names, and says where without credentials', async () => {
    const url = new URL(database.url);
    url.password = 'not-a-real-secret';
    const env = { DATABASE_URL: url.toString() };
    const dataDir = join(cwd, 'unused');
    const applied = await rivulet(['migrate'], cwd, dataDir, env);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(
      new RegExp(`PostgreSQL 127\\.0\\.0\\.1:\\d+/${database.name}: migrated from schema version 0`),
    );
    expect(applied.stdout).not.toContain('not-a-real-secret');
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      const [row] = await sql<
        { version: number }[]
      >`SELECT max(version)::int AS version FROM rivulet_migrations`;
      expect(row?.version).toBeGreaterThan(0);
    } finally {
      await sql.end();
    }
    expect((await rivulet(['migrate', '--check'], cwd, dataDir, env)).code).toBe(0);
  });

  it('says the database cannot be reached, without the password, when nothing listens there', async () => {
    const refused = await rivulet(['migrate'], cwd, join(cwd, 'unused'), {
      DATABASE_URL: 'postgres://rivulet:hunter2-secret@127.0.0.1:1/rivulet',
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/Cannot reach the database \(PostgreSQL 127\.0\.0\.1:1\/rivulet\)/);
    expect(refused.stderr).not.toContain('hunter2');
    expect(refused.stderr).not.toMatch(/\n\s+at /);
  });
});
