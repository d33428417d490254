// `rivulet migrate`: bring the database's schema to this release's version without starting the server (which also
// migrates at start, under the same lock), or check where it stands.

import { parseArgs } from 'node:util';
import type { Config } from '../config.ts';
import { migrateStores } from '../stores/open-stores.ts';

export const MIGRATE_USAGE = `Usage: rivulet migrate [--check]

  Applies the schema migrations this release has and the database lacks: the SQLite file under DATA_DIR, or
  PostgreSQL when DATABASE_URL is set (under an advisory lock, so instances starting at the same time are safe).
  The server does the same at start; run this alone to migrate before rolling out new instances.

  --check   Only report the database's schema version; exit 1 when migrations are pending.`;

export async function migrateCommand(argv: string[], config: Config): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { check: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help === true) {
    console.log(MIGRATE_USAGE);
    return 0;
  }
  const status = await migrateStores(config, !values.check);
  if (values.check) {
    const pending = status.latest - status.from;
    console.log(
      pending > 0
        ? `${status.location}: schema version ${status.from}, ${pending} migration(s) pending (this release: ${status.latest}).`
        : `${status.location}: schema version ${status.from}, up to date.`,
    );
    return pending > 0 ? 1 : 0;
  }
  const applied = status.to - status.from;
  console.log(
    applied > 0
      ? `${status.location}: migrated from schema version ${status.from} to ${status.to} (${applied} migration(s)).`
      : `${status.location}: schema version ${status.to}, already up to date.`,
  );
  return 0;
}
