import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeStoreConformance } from '../store.conformance.ts';
import { openSqliteStores } from './sqlite-stores.ts';

describeStoreConformance('sqlite (memory)', () => openSqliteStores(':memory:'));

const dir = mkdtempSync(join(tmpdir(), 'rivulet-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
describeStoreConformance('sqlite (file)', () =>
  openSqliteStores(join(dir, `db-${(files += 1)}`, 'rivulet.sqlite')),
);

describe('sqlite stores on disk', () => {
  it('keeps data across reopening and loads sqlite-vec', async () => {
    const path = join(dir, 'reopen.sqlite');
    const first = openSqliteStores(path);
    expect(first.vectors.available).toBe(true);
    const conversation = await first.conversations.createConversation('alice', 'default');
    await first.close();
    const second = openSqliteStores(path);
    expect(await second.conversations.getConversation(conversation.id)).toEqual(conversation);
    await second.close();
  });
});
