import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { databasePath, openStores } from './open-stores.ts';
import { describeStoreConformance } from './store.conformance.ts';

// The stores every caller gets: the same contract suite, through the one open function.
describeStoreConformance('openStores (DATA_DIR=:memory:)', (options) =>
  openStores({ dataDir: ':memory:' }, options),
);

const dir = mkdtempSync(join(tmpdir(), 'rivulet-open-stores-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openStores', () => {
  it('opens the SQLite file under DATA_DIR from a loaded configuration, creating the directory', async () => {
    const dataDir = join(dir, 'data');
    const stores = await openStores(loadConfig({ DATA_DIR: dataDir }));
    try {
      await stores.ping();
      expect(existsSync(join(dataDir, 'rivulet.sqlite'))).toBe(true);
    } finally {
      await stores.close();
    }
  });

  it('keeps DATA_DIR=:memory: in memory', () => {
    expect(databasePath(':memory:')).toBe(':memory:');
    expect(databasePath('/srv/rivulet')).toBe(join('/srv/rivulet', 'rivulet.sqlite'));
  });
});
