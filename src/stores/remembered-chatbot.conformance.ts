// The remembered chatbot (ChatbotStore.lastRead with createConversation's ifChatbotVersion), held to the same case on
// every store that has it: two stores on one database (two processes or instances), and plain SQL behind both.

import { expect } from 'vitest';
import { ChatbotChanged } from '../core/chatbots.ts';
import type { StoredMessage } from '../core/conversation-store.ts';
import type { Stores } from './stores.ts';

const BOT = {
  id: 'shared',
  name: 'Shared',
  collectionId: 'docs',
  orgId: null,
  systemPrompt: 'One',
  temperature: null,
  maxTokens: null,
  glossary: [],
};

function firstMessages(conversationId: string): StoredMessage[] {
  return [
    { id: `${conversationId}-q`, conversationId, role: 'user', content: 'Question?', createdAt: 1_000 },
    {
      id: `${conversationId}-a`,
      conversationId,
      role: 'assistant',
      content: '',
      createdAt: 1_000,
      status: 'streaming',
      runId: `run-${conversationId}`,
    },
  ];
}

/**
 * `first` creates conversations on the chatbot it remembers; `second` (stores of their own on the same database, as
 * another process or instance has) and `behindTheBack` (plain SQL on another connection) change it. Closes neither.
 */
export async function checkRememberedChatbot(
  first: Stores,
  second: Stores,
  behindTheBack: (sql: string) => Promise<unknown>,
): Promise<void> {
  const create = (id: string, version: string, messages = firstMessages(id)) =>
    first.conversations.createConversation(null, 'shared', id, messages, { ifChatbotVersion: version });
  const refused = async (id: string, version: string, messages = firstMessages(id)) => {
    await expect(create(id, version, messages)).rejects.toBeInstanceOf(ChatbotChanged);
    expect(await first.conversations.getConversation(id)).toBeUndefined();
    expect(await first.conversations.findMessageByRun(`run-${id}`)).toBeUndefined();
  };
  const remembered = (): string | undefined => first.chatbots.lastRead?.('shared')?.version;

  await first.chatbots.putChatbot(BOT);
  expect(first.chatbots.lastRead?.('shared')).toBeUndefined();
  const read = await first.chatbots.getChatbot('shared');
  expect(first.chatbots.lastRead?.('shared')?.chatbot).toEqual(read);
  const version = remembered() ?? '';
  expect(version).not.toBe('');

  // Unchanged: stored, question and answer in order; a conversation without messages too.
  await create('c1', version);
  expect((await first.conversations.listMessages('c1')).map((message) => message.id)).toEqual([
    'c1-q',
    'c1-a',
  ]);
  expect((await first.conversations.getConversation('c1'))?.title).toBe('Question?');
  await create('c0', version, []);
  expect(await first.conversations.getConversation('c0')).toBeDefined();

  // Put again by the other process: the remembered version no longer holds, and nothing is stored.
  await second.chatbots.putChatbot({ ...BOT, systemPrompt: 'Two' });
  expect(remembered()).toBe(version);
  await refused('c2', version);
  await refused('c3', version, []);
  // A fresh read gives the new version, which stores.
  expect((await first.chatbots.getChatbot('shared'))?.systemPrompt).toBe('Two');
  const fresh = remembered() ?? '';
  expect(fresh).not.toBe(version);
  await create('c4', fresh);
  expect(await first.conversations.listMessages('c4')).toHaveLength(2);
  // Asked together (SQLite commits them in one transaction): the stale one stores nothing, the others store.
  const together = await Promise.allSettled([
    create('c7', fresh),
    create('c8', version),
    create('c9', fresh),
  ]);
  expect(together.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect((together[1] as PromiseRejectedResult).reason).toBeInstanceOf(ChatbotChanged);
  expect(await first.conversations.listMessages('c7')).toHaveLength(2);
  expect(await first.conversations.getConversation('c8')).toBeUndefined();
  expect(await first.conversations.findMessageByRun('run-c8')).toBeUndefined();
  expect(await first.conversations.listMessages('c9')).toHaveLength(2);

  // The chatbot's collection's lexical generation, read with the create where the store can (PostgreSQL; SQLite's
  // ranking reads it in-process and never calls `read`), and with a follow-up's conversation: after another store
  // indexed a document, the generation that store's write left, the one a ranking reads.
  const generations: (number | undefined)[] = [];
  const withGeneration = (id: string) =>
    first.conversations.createConversation(null, 'shared', id, firstMessages(id), {
      ifChatbotVersion: fresh,
      readGeneration: { collectionId: 'docs', read: (generation) => generations.push(generation) },
    });
  await withGeneration('g1');
  await second.documents.upsertDocument(
    {
      collectionId: 'docs',
      source: 'refunds.txt',
      title: 'Refunds',
      mediaType: 'text/plain',
      contentHash: 'h1',
      bytes: 10,
    },
    [{ ordinal: 0, heading: '', text: 'Refunds take 14 days.' }],
  );
  await withGeneration('g2');
  const { generation } = await first.documents.rankText('docs', 'refunds', 5);
  const followUp = await first.conversations.getConversationForQuestion('g2', { generation: true });
  if (first.backend === 'postgres') {
    expect(generation).toEqual(expect.any(Number));
    expect(generations).toHaveLength(2);
    expect(generations[1]).toBe(generation);
    expect(generations[0]).not.toBe(generation);
    expect(followUp?.lexical).toEqual({ collectionId: 'docs', generation });
  } else {
    expect(generations).toEqual([]);
    expect(followUp?.lexical).toBeUndefined();
  }

  // A follow-up's read of its conversation gives the chatbot's version as the row has it now.
  const versionNow = async (): Promise<string | undefined> =>
    (await first.conversations.getConversationForQuestion('c4', { chatbotVersion: true }))?.chatbotVersion;
  expect(await versionNow()).toBe(fresh);
  expect((await first.conversations.getConversationForQuestion('c4'))?.chatbotVersion).toBeUndefined();

  // Changed behind both stores' backs (one column, plain SQL): refused as well, and another version read.
  await behindTheBack("UPDATE chatbots SET visibility = 'public' WHERE id = 'shared'");
  await refused('c5', fresh);
  expect(await versionNow()).toEqual(expect.any(String));
  expect(await versionNow()).not.toBe(fresh);
  // Deleted by the other process: refused as well.
  await first.chatbots.getChatbot('shared');
  const beforeDelete = remembered() ?? '';
  await second.chatbots.deleteChatbot('shared');
  await refused('c6', beforeDelete);
  expect(await versionNow()).toBeUndefined();

  // This process's own put and delete forget at once.
  await first.chatbots.putChatbot(BOT);
  expect(first.chatbots.lastRead?.('shared')).toBeUndefined();
  await first.chatbots.getChatbot('shared');
  expect(first.chatbots.lastRead?.('shared')).toBeDefined();
  await first.chatbots.deleteChatbot('shared');
  expect(first.chatbots.lastRead?.('shared')).toBeUndefined();
  expect(await first.chatbots.getChatbot('shared')).toBeUndefined();
  expect(first.chatbots.lastRead?.('shared')).toBeUndefined();
}
