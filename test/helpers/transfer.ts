// Export and import for tests, through the same functions as `rivulet export` and `rivulet import`, and what an
// installation looks like through the store contracts (to compare one before and after a move).

import { readFile } from 'node:fs/promises';
import type { StoreConfig } from '../../src/stores/open-stores.ts';
import { openStores } from '../../src/stores/open-stores.ts';
import type { Stores } from '../../src/stores/stores.ts';
import { exportInstallation, type ExportSummary } from '../../src/stores/transfer/export.ts';
import {
  importInstallation,
  type ImportOptions,
  type ImportSummary,
} from '../../src/stores/transfer/import.ts';
import { openTransfer } from '../../src/stores/transfer/open-transfer.ts';
import { TINY_SPACE } from './installation.ts';

export async function exportTo(config: StoreConfig, file: string): Promise<ExportSummary> {
  const backend = await openTransfer(config);
  try {
    return await exportInstallation(backend, file);
  } finally {
    await backend.close();
  }
}

export async function importFrom(
  config: StoreConfig,
  file: string,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const backend = await openTransfer(config);
  try {
    return await importInstallation(backend, file, options);
  } finally {
    await backend.close();
  }
}

/** The file without its header line (the only line that differs between two exports of the same data). */
export async function body(file: string): Promise<string> {
  const text = await readFile(file, 'utf8');
  return text.slice(text.indexOf('\n') + 1);
}

export async function withOpenStores<T>(
  config: StoreConfig,
  use: (stores: Stores) => Promise<T>,
): Promise<T> {
  const stores = await openStores(config);
  try {
    return await use(stores);
  } finally {
    await stores.close();
  }
}

/** Everything the stores answer about the filled installation, for before/after comparisons. */
export async function readBack(stores: Stores, options: { vectors: boolean }): Promise<unknown> {
  const collections = ['default', 'manuals'];
  const documents = Object.fromEntries(
    await Promise.all(collections.map(async (id) => [id, await stores.documents.listDocuments(id)] as const)),
  );
  const search = async (collection: string, query: string) =>
    (await stores.documents.searchText(collection, query, 10)).map(({ id, score, source }) => ({
      id,
      score,
      source,
    }));
  const nearest = async (collection: string, vector: number[]) =>
    (await stores.documents.searchVector(collection, TINY_SPACE, new Float32Array(vector), 10)).map(
      ({ id, score }) => ({ id, score: Math.round(score * 1e6) / 1e6 }),
    );
  const conversations = await stores.conversations.listConversations('user:alice');
  const anonymous = await stores.conversations.listConversations(null);
  const chunkIds = Object.values(documents)
    .flat()
    .map((document) => document.id);
  return {
    chatbots: await stores.chatbots.listChatbots(),
    owners: await Promise.all(collections.map((id) => stores.chatbots.collectionOwner(id))),
    keys: await stores.apiKeys.listApiKeys(),
    spent: [
      await stores.tokenUsage.spent('chatbot', 'support', '2025-01-15'),
      await stores.tokenUsage.spent('principal', 'user:alice', '2025-01-15'),
      await stores.tokenUsage.spent('chatbot', 'default', '2025-01-16'),
    ],
    documents,
    counts: await Promise.all(collections.map((id) => stores.documents.countDocuments(id))),
    hashes: [...(await stores.documents.contentHashes(chunkIds)).entries()].sort(),
    text: [
      await search('manuals', 'refunds gift cards'),
      await search('manuals', 'ship'),
      await search('default', 'emoji'),
    ],
    vectors: options.vectors
      ? {
          space: await stores.documents.embeddingSpace(),
          manuals: await nearest('manuals', [0, 1, 0, 0]),
          default: await nearest('default', [1, 0, 0, 0]),
        }
      : undefined,
    conversations: [...conversations, ...anonymous],
    messages: await Promise.all(
      [...conversations, ...anonymous].map((conversation) =>
        stores.conversations.listMessages(conversation.id),
      ),
    ),
  };
}
