// Moving an installation: export to a JSON-lines file and import into an empty SQLite file or PostgreSQL database,
// byte-identical on the way back, read back right through the store contracts, and refusals that leave nothing behind.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORMAT_VERSION } from '../../src/stores/transfer/format.ts';
import { startPglite, type PgliteServer } from '../helpers/pglite.ts';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../helpers/postgres.ts';
import { fillInstallation, TINY_SPACE, type FilledInstallation } from '../helpers/installation.ts';
import { body, exportTo, importFrom, readBack, withOpenStores } from '../helpers/transfer.ts';

let directory: string;
let source: { dataDir: string };
let filled: FilledInstallation;
let exported: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'rivulet-transfer-'));
  source = { dataDir: join(directory, 'source') };
  filled = await withOpenStores(source, fillInstallation);
  exported = join(directory, 'source.jsonl');
  await exportTo(source, exported);
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

let targets = 0;
function newSqlite(): { dataDir: string } {
  targets += 1;
  return { dataDir: join(directory, `target-${targets}`) };
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

describe('the export file', () => {
  it('starts with a versioned header that counts the records, and ends with an end record', async () => {
    const all = lines(await readFile(exported, 'utf8'));
    const header = JSON.parse(all[0] ?? '') as Record<string, unknown>;
    expect(header).toMatchObject({
      format: 'rivulet-export',
      version: FORMAT_VERSION,
      source: { backend: 'sqlite', schema: expect.any(Number) as number },
      counts: {
        collection: 2,
        chatbot: 2,
        'api-key': 2,
        'token-usage': 3,
        'embedding-space': 1,
        document: 3,
        chunk: 5,
        conversation: 2,
        message: 5,
      },
    });
    expect(Date.parse(header.exportedAt as string)).not.toBeNaN();
    expect(all.at(-1)).toBe('{"kind":"end"}');
    const kinds = all.slice(1, -1).map((line) => (JSON.parse(line) as { kind: string }).kind);
    expect([...new Set(kinds)]).toEqual([
      'collection',
      'chatbot',
      'api-key',
      'token-usage',
      'embedding-space',
      'document',
      'chunk',
      'conversation',
      'message',
    ]);
  });

  it('holds key hashes, never secrets, and vectors as base64 little-endian float32', async () => {
    const text = await readFile(exported, 'utf8');
    // The secret is all of the token after `rk_<id>_`: it is base64url, so it may hold `_` itself (taking only what
    // follows the last one left a fragment of a few characters that the file could hold by chance).
    const secret = filled.token.split('_').slice(2).join('_');
    expect(secret).toHaveLength(43);
    expect(text).not.toContain(secret);
    const keys = lines(text).filter((line) => line.startsWith('{"kind":"api-key"'));
    for (const key of keys) {
      expect(Buffer.from((JSON.parse(key) as { secretHash: string }).secretHash, 'base64')).toHaveLength(32);
    }
    const chunk = JSON.parse(lines(text).find((line) => line.startsWith('{"kind":"chunk"')) ?? '') as {
      vector: string;
    };
    const bytes = Buffer.from(chunk.vector, 'base64');
    expect(bytes).toHaveLength(TINY_SPACE.dimensions * 4);
    expect(bytes.readFloatLE(0)).toBe(1);
  });

  it('is byte-identical when the same data is exported twice (but for the header)', async () => {
    const again = join(directory, 'again.jsonl');
    await exportTo(source, again);
    expect(await body(again)).toBe(await body(exported));
  });

  it('refuses to overwrite an existing file', async () => {
    await expect(exportTo(source, exported)).rejects.toThrow(/exists already/);
  });
});

describe('SQLite -> SQLite', () => {
  it('round-trips byte for byte and reads back the same through every store', async () => {
    const target = newSqlite();
    const summary = await importFrom(target, exported, { batchSize: 2 });
    expect(summary.warnings).toEqual([]);
    expect(summary.counts.chunk).toBe(5);
    const back = join(directory, 'back.jsonl');
    await exportTo(target, back);
    expect(await body(back)).toBe(await body(exported));

    const before = await withOpenStores(source, (stores) => readBack(stores, { vectors: true }));
    const after = await withOpenStores(target, (stores) => readBack(stores, { vectors: true }));
    expect(after).toEqual(before);
  });

  it('keeps key hashes (keys still verify) and conversations ready to go on', async () => {
    const target = newSqlite();
    await importFrom(target, exported);
    await withOpenStores(target, async (stores) => {
      expect((await stores.apiKeys.verifyApiKey(filled.token))?.name).toBe('ci');
      await stores.conversations.appendMessage({
        id: 'msg_q4',
        conversationId: filled.conversationId,
        role: 'user',
        content: 'Thanks!',
        createdAt: Date.now(),
      });
      const messages = await stores.conversations.listMessages(filled.conversationId);
      expect(messages.map((message) => message.id)).toEqual([
        'msg_q1',
        'msg_a1',
        'msg_q2',
        'msg_a2',
        'msg_q4',
      ]);
      // Re-ingesting an unchanged document is a no-op: its content hash and embedding model moved with it.
      const document = await stores.documents.getDocument(filled.documentId);
      expect(document?.embeddingModel).toBe(TINY_SPACE.model);
    });
  });

  it('replaces the auto-created default chatbot of a new installation', async () => {
    const target = newSqlite();
    await withOpenStores(target, (stores) =>
      stores.chatbots.putChatbot({
        id: 'default',
        name: 'Default',
        collectionId: 'default',
        systemPrompt: null,
        temperature: null,
        maxTokens: null,
        glossary: [],
      }),
    );
    await importFrom(target, exported);
    const back = join(directory, 'default-replaced.jsonl');
    await exportTo(target, back);
    expect(await body(back)).toBe(await body(exported));
  });
});

describe('refusals leave the target as it was', () => {
  async function expectEmpty(target: { dataDir: string }): Promise<void> {
    await withOpenStores(target, async (stores) => {
      expect(await stores.chatbots.listChatbots()).toEqual([]);
      expect(await stores.apiKeys.listApiKeys()).toEqual([]);
      expect(await stores.documents.countDocuments('manuals')).toEqual({ documents: 0, chunks: 0 });
      expect(await stores.conversations.listConversations('user:alice')).toEqual([]);
      expect(await stores.chatbots.collectionOwner('manuals')).toBeUndefined();
      expect(await stores.documents.embeddingSpace()).toBeUndefined();
    });
  }

  async function variant(name: string, edit: (all: string[]) => string[], ending = '\n'): Promise<string> {
    const file = join(directory, `${name}.jsonl`);
    await writeFile(file, edit(lines(await readFile(exported, 'utf8'))).join('\n') + ending);
    return file;
  }

  it('refuses a file from a newer format version, naming both versions', async () => {
    const file = await variant('newer', ([header = '', ...rest]) => [
      header.replace(`"version":${FORMAT_VERSION}`, `"version":${FORMAT_VERSION + 1}`),
      ...rest,
    ]);
    const target = newSqlite();
    await expect(importFrom(target, file)).rejects.toThrow(
      `export format version ${FORMAT_VERSION + 1}; this Rivulet reads versions up to ${FORMAT_VERSION}`,
    );
    await expectEmpty(target);
  });

  it('refuses a file that is not an export', async () => {
    const file = join(directory, 'not-export.jsonl');
    await writeFile(file, '{"hello":"world"}\n');
    await expect(importFrom(newSqlite(), file)).rejects.toThrow(/not a Rivulet export/);
  });

  it('refuses a malformed line with its number, after earlier batches went in, and keeps nothing', async () => {
    // Line 20 is a message, so collections, chatbots, keys, documents and chunks were written before it.
    const file = await variant('malformed', (all) =>
      all.map((line, index) => (index === 19 ? `${line.slice(0, 30)}` : line)),
    );
    const target = newSqlite();
    await expect(importFrom(target, file, { batchSize: 2 })).rejects.toThrow(/^line 20: not valid JSON/);
    await expectEmpty(target);
  });

  it('refuses a record that breaks its schema, naming the line and field', async () => {
    const all = lines(await readFile(exported, 'utf8'));
    const index = all.findIndex((line) => line.startsWith('{"kind":"chunk"'));
    const file = await variant('invalid', () =>
      all.map((line, at) => (at === index ? line.replace(/"ordinal":\d+/, '"ordinal":"zero"') : line)),
    );
    const target = newSqlite();
    await expect(importFrom(target, file)).rejects.toThrow(
      new RegExp(`^line ${index + 1}: not a valid chunk record: ordinal`),
    );
    await expectEmpty(target);
  });

  it('refuses records out of order', async () => {
    // Reversed: five messages (lines 2-6), then a conversation.
    const file = await variant('order', (all) => [
      all[0] ?? '',
      ...all.slice(1, -1).reverse(),
      all.at(-1) ?? '',
    ]);
    await expect(importFrom(newSqlite(), file)).rejects.toThrow(
      /^line 7: a conversation record after message records/,
    );
  });

  it('refuses a file cut at a line boundary (no end record)', async () => {
    const file = await variant('cut', (all) => all.slice(0, 15));
    const target = newSqlite();
    await expect(importFrom(target, file, { batchSize: 2 })).rejects.toThrow(
      /ends without its end record: it is truncated/,
    );
    await expectEmpty(target);
  });

  it('refuses a file cut in the middle of a line, with the line number', async () => {
    const text = await readFile(exported, 'utf8');
    const file = join(directory, 'cut-mid-line.jsonl');
    const cut = text.indexOf('{"kind":"chunk"') + 40;
    await writeFile(file, text.slice(0, cut));
    const line = text.slice(0, cut).split('\n').length;
    const target = newSqlite();
    await expect(importFrom(target, file)).rejects.toThrow(
      new RegExp(
        `^line ${line}: not valid JSON \\(the file ends in the middle of this line: it is truncated\\)`,
      ),
    );
    await expectEmpty(target);
  });

  it('refuses a chunk whose document is not in the file', async () => {
    const file = await variant('orphan', (all) =>
      all.filter((line) => !line.includes('"source":"shipping.md"')),
    );
    const target = newSqlite();
    await expect(importFrom(target, file)).rejects.toThrow(/which no document record before it names/);
    await expectEmpty(target);
  });

  it('refuses a file whose records do not match its header counts', async () => {
    const file = await variant('dropped', (all) => all.filter((line) => !line.includes('"id":"msg_q3"')));
    await expect(importFrom(newSqlite(), file)).rejects.toThrow(/message: 4 of 5/);
  });

  it('refuses an installation a first start filled with the sample guide, and says how to empty it', async () => {
    const target = newSqlite();
    const sample = await withOpenStores(target, async (stores) => {
      await stores.chatbots.putChatbot({
        id: 'default',
        name: 'Default',
        collectionId: 'default',
        systemPrompt: null,
        temperature: null,
        maxTokens: null,
        glossary: [],
      });
      const { document } = await stores.documents.upsertDocument(
        {
          collectionId: 'default',
          source: 'rivulet-guide/intro.md',
          title: 'Intro',
          mediaType: 'text/markdown',
          contentHash: 'sha256:intro',
          bytes: 10,
        },
        [{ ordinal: 0, heading: 'Intro', text: 'Rivulet streams answers.' }],
      );
      return document;
    });
    await expect(importFrom(target, exported)).rejects.toThrow(
      'it holds 1 documents. Import into a new installation (an empty DATA_DIR or database) before a server first ' +
        'starts there. If they are the sample guide a first start added, `rivulet documents delete --all --yes` ' +
        'removes them. Nothing was imported.',
    );
    // Once deleted (the lexical index and vector table keep traces of it), the import goes in and reads back the same.
    await withOpenStores(target, (stores) => stores.documents.deleteDocument(sample.id));
    await importFrom(target, exported);
    const back = join(directory, 'after-sample.jsonl');
    await exportTo(target, back);
    expect(await body(back)).toBe(await body(exported));
    const before = await withOpenStores(source, (stores) => readBack(stores, { vectors: true }));
    const after = await withOpenStores(target, (stores) => readBack(stores, { vectors: true }));
    expect(after).toEqual(before);
  });

  it('refuses to import into an installation that holds data, saying what it holds', async () => {
    await expect(importFrom(source, exported)).rejects.toThrow(
      /not empty: it holds 3 documents, 1 chatbots besides the default one, 2 conversations, 2 API keys, 3 token usage records/,
    );
  });
});

describe.skipIf(postgresSkipReason !== undefined)('SQLite <-> PostgreSQL', () => {
  let databases: TestDatabase[] = [];

  afterAll(async () => {
    await Promise.all(databases.map((database) => database.drop()));
    databases = [];
  });

  async function newPostgres(): Promise<{ dataDir: string; databaseUrl: string }> {
    const database = await createTestDatabase('transfer');
    databases.push(database);
    return { dataDir: join(directory, 'unused'), databaseUrl: database.url };
  }

  it('SQLite -> PostgreSQL -> export is identical (vectors left out, and said so, without pgvector)', async () => {
    const target = await newPostgres();
    const summary = await importFrom(target, exported, { batchSize: 2 });
    const back = join(directory, 'from-postgres.jsonl');
    await exportTo(target, back);
    const vectors = await withOpenStores(target, (stores) => Promise.resolve(stores.vectors.available));
    if (vectors) {
      expect(summary.warnings).toEqual([]);
      expect(await body(back)).toBe(await body(exported));
    } else {
      expect(summary.warnings).toEqual([expect.stringMatching(/^5 chunk vectors were not imported: /)]);
      expect(await body(back)).toBe(withoutVectors(await body(exported)));
    }
    const header = JSON.parse((await readFile(back, 'utf8')).split('\n')[0] ?? '') as { source: unknown };
    expect(header.source).toEqual({ backend: 'postgres', schema: expect.any(Number) as number });

    const before = await withOpenStores(source, (stores) => readBack(stores, { vectors }));
    const after = await withOpenStores(target, (stores) => readBack(stores, { vectors }));
    expect(after).toEqual(without(before, vectors));
  });

  it('PostgreSQL -> SQLite -> export is identical', async () => {
    const postgres = await newPostgres();
    await importFrom(postgres, exported);
    const fromPostgres = join(directory, 'pg-source.jsonl');
    await exportTo(postgres, fromPostgres);
    const target = newSqlite();
    await importFrom(target, fromPostgres);
    const back = join(directory, 'pg-back.jsonl');
    await exportTo(target, back);
    expect(await body(back)).toBe(await body(fromPostgres));
  });

  it('keeps nothing of a refused import (one transaction)', async () => {
    const target = await newPostgres();
    const file = join(directory, 'pg-malformed.jsonl');
    const all = lines(await readFile(exported, 'utf8'));
    await writeFile(
      file,
      all.map((line, index) => (index === 19 ? '{"kind":"message"' : line)).join('\n') + '\n',
    );
    await expect(importFrom(target, file, { batchSize: 2 })).rejects.toThrow(/^line 20: not valid JSON/);
    await withOpenStores(target, async (stores) => {
      expect(await stores.chatbots.listChatbots()).toEqual([]);
      expect(await stores.documents.countDocuments('manuals')).toEqual({ documents: 0, chunks: 0 });
      expect(await stores.apiKeys.listApiKeys()).toEqual([]);
    });
    // And the database takes the whole file afterwards.
    await importFrom(target, exported);
  });
});

// The PostgreSQL server here has no pgvector: the vector leg runs against PGlite with its vector extension, over the
// wire protocol, through the same driver and code.
describe('SQLite <-> PostgreSQL with pgvector (PGlite)', () => {
  let server: PgliteServer;
  beforeAll(async () => {
    server = await startPglite();
  }, 60_000);
  afterAll(async () => {
    await server.stop();
  });

  async function emptyPglite(): Promise<{ dataDir: string; databaseUrl: string; databasePoolMax: number }> {
    await server.reset();
    return { dataDir: join(directory, 'unused'), databaseUrl: server.url, databasePoolMax: 1 };
  }

  it('SQLite -> PostgreSQL -> export is byte-identical, vectors included, and searches the same', async () => {
    const target = await emptyPglite();
    const summary = await importFrom(target, exported, { batchSize: 2 });
    expect(summary.warnings).toEqual([]);
    const back = join(directory, 'from-pglite.jsonl');
    await exportTo(target, back);
    expect(await body(back)).toBe(await body(exported));

    const before = await withOpenStores(source, (stores) => readBack(stores, { vectors: true }));
    const after = await withOpenStores(target, (stores) => readBack(stores, { vectors: true }));
    expect(after).toEqual(before);
    await withOpenStores(target, async (stores) => {
      expect((await stores.apiKeys.verifyApiKey(filled.token))?.name).toBe('ci');
    });
  });

  it('PostgreSQL -> SQLite carries the vectors back', async () => {
    const postgres = await emptyPglite();
    await importFrom(postgres, exported);
    const fromPostgres = join(directory, 'pglite-source.jsonl');
    await exportTo(postgres, fromPostgres);
    const target = newSqlite();
    await importFrom(target, fromPostgres);
    const back = join(directory, 'pglite-back.jsonl');
    await exportTo(target, back);
    expect(await body(back)).toBe(await body(fromPostgres));
    expect(await body(back)).toBe(await body(exported));
  });
});

/** The export a target without vector storage gives back: no space, no vectors, documents without a model. */
function withoutVectors(text: string): string {
  return lines(text)
    .filter((line) => !line.startsWith('{"kind":"embedding-space"'))
    .map((line) =>
      line
        .replace(/"vector":"[^"]*"/, '"vector":null')
        .replace(/^(\{"kind":"document".*)"embeddingModel":"[^"]*"/, '$1"embeddingModel":null'),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** What the stores read back without vectors: documents have no embedding model. */
function without(readBack: unknown, vectors: boolean): unknown {
  if (vectors) return readBack;
  const copy = structuredClone(readBack) as {
    documents: Record<string, { embeddingModel: string | null }[]>;
  };
  for (const documents of Object.values(copy.documents)) {
    for (const document of documents) document.embeddingModel = null;
  }
  return copy;
}
