// docs/configuration.md lists every variable the configuration schema reads, and names none it does not.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';

/** The variables loadConfig reads, taken from the schema itself: an environment that records every key asked for. */
function variablesTheSchemaReads(): string[] {
  const read = new Set<string>();
  const env = new Proxy(
    {},
    {
      get(_target, key) {
        if (typeof key === 'string' && /^[A-Z][A-Z0-9_]*$/.test(key)) read.add(key);
        return undefined;
      },
    },
  );
  loadConfig(env);
  return [...read].sort();
}

/** The variables named in the first column of docs/configuration.md's tables. */
function variablesTheDocsList(): string[] {
  const doc = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
  const named = new Set<string>();
  for (const line of doc.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const firstCell = line.split('|')[1] ?? '';
    for (const match of firstCell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) named.add(match[1]!);
  }
  return [...named].sort();
}

describe('docs/configuration.md', () => {
  it('lists every variable of the configuration schema, and no other', () => {
    const schema = variablesTheSchemaReads();
    const documented = variablesTheDocsList();
    expect(schema.length).toBeGreaterThan(50);
    expect(
      schema.filter((name) => !documented.includes(name)),
      'read by src/config/ but missing from docs/configuration.md (add a row in the right group)',
    ).toEqual([]);
    expect(
      documented.filter((name) => !schema.includes(name)),
      'listed in docs/configuration.md but not read by src/config/',
    ).toEqual([]);
  });
});
