// Tokens spent per UTC day per chatbot and per principal, in SQLite.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { firstKeptUsageDay, type TokenUsageStore, type UsageScope } from '../../core/token-usage.ts';
import { groupCommit, type GroupCommit } from './database.ts';

export class SqliteTokenUsageStore implements TokenUsageStore {
  /**
   * Charges go through the connection's group commit with the answers' own writes: a transaction of their own would
   * commit every group still waiting (see GroupCommit) at each answer's end.
   */
  private readonly writes: GroupCommit;
  private readonly statements: Record<'spent' | 'charge' | 'prune', StatementSync>;

  constructor(db: DatabaseSync) {
    this.writes = groupCommit(db);
    this.statements = {
      spent: db.prepare('SELECT tokens FROM token_usage WHERE day = ? AND scope = ? AND subject = ?'),
      charge: db.prepare(`
        INSERT INTO token_usage (day, scope, subject, tokens) VALUES (?, ?, ?, ?)
        ON CONFLICT (day, scope, subject) DO UPDATE SET tokens = tokens + excluded.tokens`),
      prune: db.prepare('DELETE FROM token_usage WHERE day < ?'),
    };
  }

  async spent(scope: UsageScope, subject: string, day: string): Promise<number> {
    const row = this.statements.spent.get(day, scope, subject) as { tokens: number } | undefined;
    return row?.tokens ?? 0;
  }

  async charge(
    subjects: readonly { scope: UsageScope; subject: string }[],
    tokens: number,
    day: string,
  ): Promise<void> {
    if (tokens <= 0 || subjects.length === 0) return;
    const monthAgo = firstKeptUsageDay(day);
    await this.writes.run(() => {
      for (const { scope, subject } of subjects) this.statements.charge.run(day, scope, subject, tokens);
      this.statements.prune.run(monthAgo);
    });
  }
}
