// Tokens spent per UTC day per chatbot and per principal, in PostgreSQL. Instances charge the same rows at once, so a
// charge is one upsert that adds to the stored total (never a read followed by a write).

import { firstKeptUsageDay, type TokenUsageStore, type UsageScope } from '../../core/token-usage.ts';
import { pgText, type Sql } from './database.ts';

export class PostgresTokenUsageStore implements TokenUsageStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  async spent(scope: UsageScope, subject: string, day: string): Promise<number> {
    const [row] = await this.sql<{ tokens: number }[]>`
      SELECT tokens FROM token_usage WHERE day = ${day} AND scope = ${scope} AND subject = ${pgText(subject)}`;
    return row?.tokens ?? 0;
  }

  async charge(
    subjects: readonly { scope: UsageScope; subject: string }[],
    tokens: number,
    day: string,
  ): Promise<void> {
    if (tokens <= 0 || subjects.length === 0) return;
    const monthAgo = firstKeptUsageDay(day);
    // A subject named twice is charged twice (one row, so ON CONFLICT touches it once), and rows are locked in one
    // order, so charges running at once queue on each other instead of deadlocking.
    await this.sql`
      WITH charged AS (
        INSERT INTO token_usage (day, scope, subject, tokens)
        SELECT ${day}::text, scope, subject, ${tokens}::bigint * count(*)
        FROM unnest(${subjects.map((item) => item.scope)}::text[],
          ${subjects.map((item) => pgText(item.subject))}::text[]) AS charged (scope, subject)
        GROUP BY scope, subject
        ORDER BY scope, subject
        ON CONFLICT (day, scope, subject) DO UPDATE SET tokens = token_usage.tokens + excluded.tokens
      )
      DELETE FROM token_usage WHERE day < ${monthAgo}`;
  }
}
