// Every problem with the configuration, collected so that one error names every variable to fix.

import type { z } from 'zod';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The environment as loadConfig reads it. */
export type Env = Record<string, string | undefined>;

/** Schema issues and cross-field problems, in the order they were found; one line per variable and message. */
export class Problems {
  readonly #lines: string[] = [];

  /** Records that `variable` is wrong. Resolvers go on after a problem, so the next ones are found too. */
  add(variable: string, message: string): void {
    const line = `  ${variable}: ${message}`;
    if (!this.#lines.includes(line)) this.#lines.push(line);
  }

  /** Validates one concern's variables: its values, or undefined with every issue recorded. */
  parse<S extends z.ZodType>(schema: S, env: Env): z.output<S> | undefined {
    const parsed = schema.safeParse(env);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) this.add(issue.path.join('.'), issue.message);
    return undefined;
  }

  get empty(): boolean {
    return this.#lines.length === 0;
  }

  /** Throws one ConfigError listing every problem, if there is any. */
  throwIfAny(): void {
    if (!this.empty) throw new ConfigError(`Invalid configuration:\n${this.#lines.join('\n')}`);
  }
}
