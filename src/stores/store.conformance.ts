// Conformance suite for the store contracts (conversations, chatbots, documents and chunks, answer cache).
// Every backend runs it: SQLite now (sqlite/sqlite-stores.test.ts), PostgreSQL when it lands.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { normalizeQuestion, type CachedAnswerInput } from '../core/answer-cache.ts';
import type { ChunkInput, DocumentInput, EmbeddingSpace } from '../core/documents.ts';
import type { Conversation, StoredMessage } from '../core/conversation-store.ts';
import type { Source } from '../core/events.ts';
import type { StoreOptions, Stores } from './stores.ts';

const SPACE: EmbeddingSpace = { model: 'test:bow', dimensions: 4 };
/** The answer cache scope most tests use (signed-in users of no organisation). */
const SCOPE = 'org:';

function unit(...values: number[]): Float32Array {
  const norm = Math.hypot(...values);
  return Float32Array.from(values.map((value) => value / norm));
}

function documentInput(
  source: string,
  contentHash: string,
  overrides: Partial<DocumentInput> = {},
): DocumentInput {
  return {
    collectionId: 'docs',
    source,
    title: `Title of ${source}`,
    mediaType: 'text/plain',
    contentHash,
    bytes: 100,
    ...overrides,
  };
}

function chunks(...texts: string[]): ChunkInput[] {
  return texts.map((text, ordinal) => ({ ordinal, text, heading: '' }));
}

function source(id: string, documentId: string): Source {
  return { id, documentId, title: 'T', snippet: 's', score: 1 };
}

/** An answer as stored when it starts: `streaming`, no text yet, run `run_<id>`. */
export function streamingAnswer(id: string, conversation: Conversation): StoredMessage {
  return {
    id,
    conversationId: conversation.id,
    role: 'assistant',
    content: '',
    createdAt: conversation.createdAt,
    status: 'streaming',
    runId: `run_${id}`,
  };
}

/** Runs `work` with the clock two minutes ahead (only Date: timers and the stores' I/O run as usual). */
async function twoMinutesLater<T>(work: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + 2 * 60_000);
  try {
    return await work();
  } finally {
    vi.useRealTimers();
  }
}

export function describeStoreConformance(
  name: string,
  open: (options?: StoreOptions) => Promise<Stores> | Stores,
): void {
  describe(`stores conformance: ${name}`, () => {
    let stores: Stores;
    beforeEach(async () => {
      stores = await open();
    });
    afterEach(async () => {
      await stores.close();
    });

    describe('conversations', () => {
      it('creates a conversation and keeps messages in order with every field', async () => {
        const conversation = await stores.conversations.createConversation('alice', 'default');
        const later = conversation.createdAt + 60_000;
        expect(await stores.conversations.getConversation(conversation.id)).toEqual(conversation);
        expect(conversation.title).toBeNull();
        await stores.conversations.appendMessage({
          id: 'm1',
          conversationId: conversation.id,
          role: 'user',
          content: 'How do I  reset\nmy password?',
          createdAt: later - 1000,
        });
        await stores.conversations.appendMessage({
          id: 'm2',
          conversationId: conversation.id,
          role: 'assistant',
          content: 'Use the link [1].',
          createdAt: later,
          status: 'stopped',
          runId: 'run_1',
          finishReason: 'aborted',
          usage: { inputTokens: 10, outputTokens: 3, estimated: true },
          timings: { ttftMs: 12.5, totalMs: 40, phases: { retrieve: 1.5 } },
          sources: [source('1', 'doc_1')],
          cached: false,
        });
        const messages = await stores.conversations.listMessages(conversation.id);
        expect(messages.map((message) => message.id)).toEqual(['m1', 'm2']);
        expect(messages[1]).toEqual({
          id: 'm2',
          conversationId: conversation.id,
          role: 'assistant',
          content: 'Use the link [1].',
          createdAt: later,
          status: 'stopped',
          runId: 'run_1',
          finishReason: 'aborted',
          usage: { inputTokens: 10, outputTokens: 3, estimated: true },
          timings: { ttftMs: 12.5, totalMs: 40, phases: { retrieve: 1.5 } },
          sources: [source('1', 'doc_1')],
          cached: false,
        });
        const updated = await stores.conversations.getConversation(conversation.id);
        expect(updated?.title).toBe('How do I reset my password?');
        expect(updated?.updatedAt).toBe(later);
      });

      it('creates a conversation under a chosen id, and refuses an id already taken', async () => {
        const chosen = await stores.conversations.createConversation('alice', 'default', 'chat-Z1_x');
        expect(chosen.id).toBe('chat-Z1_x');
        expect(await stores.conversations.getConversation('chat-Z1_x')).toEqual(chosen);
        await expect(
          stores.conversations.createConversation('bob', 'default', 'chat-Z1_x'),
        ).rejects.toThrow();
        expect((await stores.conversations.getConversation('chat-Z1_x'))?.ownerId).toBe('alice');
      });

      it('creates a conversation with its first messages in one write, all or none', async () => {
        const { conversations } = stores;
        const first = (conversationId: string, at: number): StoredMessage[] => [
          {
            id: `q_${conversationId}`,
            conversationId,
            role: 'user',
            content: 'What is  a\nrun?',
            createdAt: at,
          },
          {
            id: `a_${conversationId}`,
            conversationId,
            role: 'assistant',
            content: '',
            createdAt: at,
            status: 'streaming',
            runId: `run_${conversationId}`,
          },
        ];
        const question = (id: string, conversationId: string, at: number): StoredMessage => ({
          id,
          conversationId,
          role: 'user',
          content: 'Another?',
          createdAt: at,
        });
        const before = Date.now();
        const later = before + 60_000;
        const created = await conversations.createConversation(
          'alice',
          'default',
          'conv_first',
          first('conv_first', later),
        );
        expect(created).toMatchObject({
          id: 'conv_first',
          ownerId: 'alice',
          title: 'What is a run?',
          updatedAt: later,
        });
        expect(created.createdAt).toBeGreaterThanOrEqual(before);
        // Exactly what createConversation and then appendMessages leave.
        expect(await conversations.getConversation('conv_first')).toEqual(created);
        expect(await conversations.listMessages('conv_first')).toEqual(first('conv_first', later));
        expect((await conversations.findMessageByRun('run_conv_first'))?.id).toBe('a_conv_first');

        // The id taken: neither the conversation nor the messages change.
        await expect(
          conversations.createConversation('bob', 'default', 'conv_first', [
            question('q_other', 'conv_first', later),
          ]),
        ).rejects.toThrow();
        expect(await conversations.getConversation('conv_first')).toEqual(created);
        expect((await conversations.listMessages('conv_first')).map((message) => message.id)).toEqual([
          'q_conv_first',
          'a_conv_first',
        ]);
        // A message that cannot be stored (its id taken) leaves no conversation behind.
        await expect(
          conversations.createConversation('alice', 'default', 'conv_second', [
            question('q_conv_first', 'conv_second', later),
          ]),
        ).rejects.toThrow();
        expect(await conversations.getConversation('conv_second')).toBeUndefined();
        // Messages of another conversation are refused before anything is written.
        await expect(
          conversations.createConversation('alice', 'default', 'conv_third', first('conv_other', later)),
        ).rejects.toThrow();
        expect(await conversations.getConversation('conv_third')).toBeUndefined();
      });

      it('returns the newest messages, oldest first, when limited', async () => {
        const { id } = await stores.conversations.createConversation(null, 'default');
        for (let index = 0; index < 5; index += 1) {
          await stores.conversations.appendMessage({
            id: `m${index}`,
            conversationId: id,
            role: index % 2 === 0 ? 'user' : 'assistant',
            content: `message ${index}`,
            createdAt: index,
          });
        }
        expect((await stores.conversations.listMessages(id, 2)).map((message) => message.id)).toEqual([
          'm3',
          'm4',
        ]);
        expect(await stores.conversations.listMessages('conv_missing')).toEqual([]);
      });

      it('lists the turns of a prompt’s history: the newest, oldest first, role, content and status only', async () => {
        const { conversations } = stores;
        const { id } = await conversations.createConversation('alice', 'default');
        const at = Date.now();
        await conversations.appendMessages([
          {
            id: 't0',
            conversationId: id,
            role: 'user',
            content: 'first?',
            createdAt: at,
            metadata: { page: '/a' },
          },
          {
            id: 't1',
            conversationId: id,
            role: 'assistant',
            content: 'First [1].',
            createdAt: at,
            status: 'complete',
            runId: 'run_t1',
            finishReason: 'stop',
            usage: { inputTokens: 5, outputTokens: 2 },
            timings: { ttftMs: 1, totalMs: 2, phases: {} },
            sources: [source('1', 'doc_1')],
            cached: false,
          },
          { id: 't2', conversationId: id, role: 'user', content: 'second?', createdAt: at + 1 },
          {
            id: 't3',
            conversationId: id,
            role: 'assistant',
            content: 'Sec',
            createdAt: at + 1,
            status: 'streaming',
            runId: 'run_t3',
          },
        ]);
        const turns = (await conversations.listMessages(id)).map(({ role, content, status }) =>
          status === undefined ? { role, content } : { role, content, status },
        );
        expect(await conversations.listTurns(id, 20)).toEqual(turns);
        expect(await conversations.listTurns(id, 3)).toEqual(turns.slice(1));
        expect(await conversations.listTurns(id, 1)).toEqual([
          { role: 'assistant', content: 'Sec', status: 'streaming' },
        ]);
        expect(await conversations.listTurns(id, 0)).toEqual([]);
        expect(await conversations.listTurns('conv_missing', 20)).toEqual([]);
        // What a follow-up reads before it starts: the same turns, with the conversation, in one read.
        for (const limit of [20, 3, 1, 0]) {
          const found = await conversations.getConversationForQuestion(id, { turns: limit });
          expect(found?.turns).toEqual(await conversations.listTurns(id, limit));
          expect(found?.messageCount).toBe(4);
        }
        expect((await conversations.getConversationForQuestion(id))?.turns).toBeUndefined();
        expect(await conversations.getConversationForQuestion('conv_missing', { turns: 20 })).toBeUndefined();
      });

      it('stores a question and its streaming answer in one appendMessages, in order, all or none', async () => {
        const { conversations } = stores;
        const conversation = await conversations.createConversation('alice', 'default');
        const at = conversation.createdAt + 60_000;
        const question: StoredMessage = {
          id: 'q1',
          conversationId: conversation.id,
          role: 'user',
          content: 'Where is\tmy order?',
          createdAt: at,
          metadata: { page: '/orders' },
        };
        const answer: StoredMessage = {
          id: 'a1',
          conversationId: conversation.id,
          role: 'assistant',
          content: '',
          createdAt: at,
          status: 'streaming',
          runId: 'run_batch',
        };
        await conversations.appendMessages([question, answer]);
        expect(await conversations.listMessages(conversation.id)).toEqual([question, answer]);
        expect(await conversations.findMessageByRun('run_batch')).toEqual(answer);
        const updated = await conversations.getConversation(conversation.id);
        expect(updated?.title).toBe('Where is my order?');
        expect(updated?.updatedAt).toBe(at);

        // The second message's id is taken: the first is not stored either.
        await expect(
          conversations.appendMessages([
            { ...question, id: 'q2', content: 'another' },
            { ...answer, runId: 'run_other' },
          ]),
        ).rejects.toThrow();
        expect((await conversations.listMessages(conversation.id)).map((message) => message.id)).toEqual([
          'q1',
          'a1',
        ]);
        const other = await conversations.createConversation('alice', 'default');
        await expect(
          conversations.appendMessages([
            { ...question, id: 'q3' },
            { ...answer, id: 'a3', conversationId: other.id },
          ]),
        ).rejects.toThrow();
        await conversations.appendMessages([]);
        expect(await conversations.getConversationForQuestion(conversation.id)).toEqual({
          conversation: await conversations.getConversation(conversation.id),
          messageCount: 2,
        });
        expect((await conversations.getConversationForQuestion(other.id))?.messageCount).toBe(0);
      });

      it('refuses a message for a conversation that does not exist', async () => {
        await expect(
          stores.conversations.appendMessage({
            id: 'x',
            conversationId: 'conv_missing',
            role: 'user',
            content: 'hello',
            createdAt: 1,
          }),
        ).rejects.toThrow();
      });

      it('lists only the owner’s conversations, most recently updated first, with paging', async () => {
        const first = await stores.conversations.createConversation('alice', 'default');
        const second = await stores.conversations.createConversation('alice', 'default');
        await stores.conversations.createConversation('bob', 'default');
        await stores.conversations.createConversation(null, 'default');
        await stores.conversations.appendMessage({
          id: 'late',
          conversationId: first.id,
          role: 'user',
          content: 'later question',
          createdAt: Date.now() + 60_000,
        });
        const listed = await stores.conversations.listConversations('alice');
        expect(listed.map((conversation) => conversation.id)).toEqual([first.id, second.id]);
        const page = await stores.conversations.listConversations('alice', { after: listed[0]! });
        expect(page.map((conversation) => conversation.id)).toEqual([second.id]);
        // Conversations updated in the same millisecond are neither skipped nor repeated across pages.
        const same = await Promise.all(
          Array.from({ length: 5 }, () => stores.conversations.createConversation('carol', 'default')),
        );
        for (const conversation of same) {
          await stores.conversations.appendMessage({
            id: `m_${conversation.id}`,
            conversationId: conversation.id,
            role: 'user',
            content: 'q',
            createdAt: 5_000_000_000_000,
          });
        }
        const seen: string[] = [];
        let after: { updatedAt: number; id: string } | undefined;
        for (;;) {
          const batch = await stores.conversations.listConversations('carol', {
            limit: 2,
            ...(after ? { after } : {}),
          });
          seen.push(...batch.map((conversation) => conversation.id));
          if (batch.length < 2) break;
          after = batch.at(-1);
        }
        expect(seen.toSorted()).toEqual(same.map((conversation) => conversation.id).toSorted());
        expect(new Set(seen).size).toBe(5);
        expect(await stores.conversations.listConversations('alice', { limit: 1 })).toHaveLength(1);
        expect(await stores.conversations.listConversations(null)).toHaveLength(1);
      });

      it('deletes a conversation with its messages', async () => {
        const { id } = await stores.conversations.createConversation('alice', 'default');
        await stores.conversations.appendMessage({
          id: 'm',
          conversationId: id,
          role: 'user',
          content: 'q',
          createdAt: 1,
        });
        expect((await stores.conversations.getConversationForQuestion(id))?.messageCount).toBeGreaterThan(0);
        expect(await stores.conversations.getConversationForQuestion('conv_none')).toBeUndefined();
        expect(await stores.conversations.deleteConversation(id)).toBe(true);
        expect(await stores.conversations.getConversation(id)).toBeUndefined();
        expect(await stores.conversations.listMessages(id)).toEqual([]);
        expect(await stores.conversations.deleteConversation(id)).toBe(false);
      });

      it('renames a conversation, keeping its order; a later question does not take the title back', async () => {
        const conversations = stores.conversations;
        const first = await conversations.createConversation('alice', 'default');
        const second = await conversations.createConversation('alice', 'default');
        const message = (id: string, conversationId: string, createdAt: number) => ({
          id,
          conversationId,
          role: 'user' as const,
          content: 'What is the refund policy?',
          createdAt,
        });
        await conversations.appendMessage(message('m1', first.id, 10));
        await conversations.appendMessage(message('m2', second.id, 20));
        const order = (await conversations.listConversations('alice')).map((item) => item.id);
        expect(await conversations.renameConversation(first.id, 'Refunds')).toBe(true);
        expect((await conversations.getConversation(first.id))?.title).toBe('Refunds');
        expect((await conversations.listConversations('alice')).map((item) => item.id)).toEqual(order);
        await conversations.appendMessage(message('m3', first.id, 30));
        expect((await conversations.getConversation(first.id))?.title).toBe('Refunds');
        expect(await conversations.renameConversation('conv_none', 'x')).toBe(false);
      });

      it("keeps a question's metadata as sent (nested JSON values) and none on messages without", async () => {
        const conversations = stores.conversations;
        const conversation = await conversations.createConversation('alice', 'default');
        const metadata = {
          page: '/pricing',
          'user.locale': 'fr-CH',
          depth: { list: [1, 2.5, 'three', null, true], nested: { ok: false } },
          empty: {},
        };
        await conversations.appendMessage({
          id: 'q1',
          conversationId: conversation.id,
          role: 'user',
          content: 'question',
          createdAt: conversation.createdAt,
          metadata,
        });
        await conversations.appendMessage({
          id: 'q2',
          conversationId: conversation.id,
          role: 'user',
          content: 'another',
          createdAt: conversation.createdAt + 1,
        });
        const [first, second] = await conversations.listMessages(conversation.id);
        expect(first?.metadata).toEqual(metadata);
        expect(second).not.toHaveProperty('metadata');
        // Rewriting a message in place keeps what it is given, metadata included.
        expect(await conversations.replaceMessage({ ...first!, content: 'edited' })).toBe(true);
        expect((await conversations.listMessages(conversation.id))[0]).toEqual({
          ...first,
          content: 'edited',
        });
      });

      it('stores an answer when it starts, checkpoints it while it streams and rewrites it in place at the end', async () => {
        const conversations = stores.conversations;
        const conversation = await conversations.createConversation('alice', 'default');
        const startedAt = conversation.createdAt + 1000;
        await conversations.appendMessage({
          id: 'q1',
          conversationId: conversation.id,
          role: 'user',
          content: 'question',
          createdAt: startedAt,
        });
        const streaming = {
          id: 'a1',
          conversationId: conversation.id,
          role: 'assistant' as const,
          content: '',
          createdAt: startedAt,
          status: 'streaming' as const,
          runId: 'run_a1',
        };
        await conversations.appendMessage(streaming);
        await conversations.checkpointMessage('a1', { content: 'Hel' });
        expect(await conversations.findMessageByRun('run_a1')).toEqual({ ...streaming, content: 'Hel' });
        // Sources are saved once known, and kept by later checkpoints that do not repeat them.
        await conversations.checkpointMessage('a1', {
          content: 'Hello [1]',
          sources: [source('1', 'doc_1')],
        });
        await conversations.checkpointMessage('a1', { content: 'Hello [1] wor' });
        expect(await conversations.findMessageByRun('run_a1')).toEqual({
          ...streaming,
          content: 'Hello [1] wor',
          sources: [source('1', 'doc_1')],
        });
        // A question asked meanwhile comes after the answer, which keeps its place.
        await conversations.appendMessage({
          id: 'q2',
          conversationId: conversation.id,
          role: 'user',
          content: 'another',
          createdAt: startedAt + 10,
        });
        const final = {
          ...streaming,
          content: 'Hello [1] world.',
          status: 'complete' as const,
          finishReason: 'stop' as const,
          usage: { inputTokens: 5, outputTokens: 4 },
          timings: { ttftMs: 3, totalMs: 9, phases: {} },
          sources: [source('1', 'doc_1')],
          cached: false,
        };
        const before = (await conversations.getConversation(conversation.id))?.updatedAt ?? 0;
        expect(await conversations.replaceMessage(final)).toBe(true);
        const messages = await conversations.listMessages(conversation.id);
        expect(messages.map((message) => message.id)).toEqual(['q1', 'a1', 'q2']);
        expect(messages[1]).toEqual(final);
        expect((await conversations.getConversation(conversation.id))?.updatedAt).toBeGreaterThanOrEqual(
          before,
        );
        // A checkpoint that lands after the final store does not undo it.
        await conversations.checkpointMessage('a1', { content: 'Hello [1] wor' });
        expect(await conversations.findMessageByRun('run_a1')).toEqual(final);
        expect((await conversations.getConversationForQuestion(conversation.id))?.messageCount).toBe(3);
        // The conversation went away meanwhile: nothing to rewrite.
        expect(await conversations.replaceMessage({ ...final, id: 'a_missing' })).toBe(false);
        expect(await conversations.findMessageByRun('run_missing')).toBeUndefined();
        // Every field is rewritten, the run id too (kept as it is in the usual case, and cleared or changed here).
        const { runId: _dropped, ...withoutRun } = final;
        expect(await conversations.replaceMessage(withoutRun)).toBe(true);
        expect(await conversations.findMessageByRun('run_a1')).toBeUndefined();
        expect((await conversations.listMessages(conversation.id))[1]).toEqual(withoutRun);
        expect(await conversations.replaceMessage({ ...final, runId: 'run_a2' })).toBe(true);
        expect(await conversations.findMessageByRun('run_a2')).toEqual({ ...final, runId: 'run_a2' });
        expect(await conversations.replaceMessage({ ...final, runId: 'run_a2', id: 'a_missing' })).toBe(
          false,
        );
        // The sources are rewritten with the rest: replaced, then gone with a final store that has none.
        const resourced = {
          ...final,
          runId: 'run_a2',
          sources: [source('2', 'doc_2'), source('3', 'doc_3')],
        };
        expect(await conversations.replaceMessage(resourced)).toBe(true);
        expect(await conversations.findMessageByRun('run_a2')).toEqual(resourced);
        const { sources: _gone, ...unsourced } = resourced;
        expect(await conversations.replaceMessage(unsourced)).toBe(true);
        expect((await conversations.listMessages(conversation.id))[1]).toEqual(unsourced);
      });

      it('checkpoints several streaming answers in one call, each with its own text, and leaves ended ones alone', async () => {
        const conversations = stores.conversations;
        const first = await conversations.createConversation('alice', 'default');
        const second = await conversations.createConversation('bob', 'default');
        const answer = (id: string, conversationId: string) => ({
          id,
          conversationId,
          role: 'assistant' as const,
          content: '',
          createdAt: first.createdAt,
          status: 'streaming' as const,
          runId: `run_${id}`,
        });
        await conversations.appendMessage(answer('b1', first.id));
        await conversations.appendMessage(answer('b2', second.id));
        await conversations.appendMessage(answer('b3', second.id));
        const ended = { ...answer('b3', second.id), content: 'Done.', status: 'complete' as const };
        expect(await conversations.replaceMessage(ended)).toBe(true);
        await conversations.checkpointMessages([
          { id: 'b1', content: 'One', sources: [source('1', 'doc_1')] },
          // A NUL the PostgreSQL text type refuses is stored as U+FFFD, as every other write does.
          { id: 'b2', content: 'Two\0' },
          { id: 'b3', content: 'Late', sources: [source('1', 'doc_1')] },
          { id: 'b_missing', content: 'Gone', sources: [source('1', 'doc_1')] },
        ]);
        await conversations.checkpointMessages([]);
        expect(await conversations.findMessageByRun('run_b1')).toEqual({
          ...answer('b1', first.id),
          content: 'One',
          sources: [source('1', 'doc_1')],
        });
        expect((await conversations.findMessageByRun('run_b2'))?.content).toMatch(/^Two.$/u);
        expect(await conversations.findMessageByRun('run_b3')).toEqual(ended);
      });

      it('ends an answer with the sources it is given, whether or not a checkpoint stored them first', async () => {
        const conversations = stores.conversations;
        const conversation = await conversations.createConversation('alice', 'default');
        const streaming = (id: string) => streamingAnswer(id, conversation);
        const final = (id: string, sources: Source[] | undefined) => ({
          ...streaming(id),
          content: `Answer ${id}.`,
          status: 'complete' as const,
          ...(sources === undefined ? {} : { sources }),
        });
        const checkpointed = [source('1', 'doc_1'), source('2', 'doc_2')];
        const replaced = [source('1', 'doc_1')];
        const other = [source('1', 'doc_3')];
        const late = [source('1', 'doc_4')];
        for (const id of ['s1', 's2', 's3', 's4', 's5']) await conversations.appendMessage(streaming(id));
        // s4 ends before its checkpoint lands: the late checkpoint stores nothing, so its sources are not in the row.
        expect(await conversations.replaceMessage(final('s4', undefined))).toBe(true);
        await conversations.checkpointMessages([
          { id: 's1', content: 'Ans', sources: checkpointed },
          { id: 's2', content: 'Ans', sources: replaced },
          { id: 's3', content: 'Ans', sources: other },
          { id: 's4', content: 'Ans', sources: late },
          { id: 's5', content: 'Ans' },
        ]);
        // A later checkpoint without sources leaves s1's as they are.
        await conversations.checkpointMessages([{ id: 's1', content: 'Answer' }]);
        expect(await conversations.replaceMessage(final('s1', checkpointed))).toBe(true);
        expect(await conversations.replaceMessage(final('s2', [source('9', 'doc_9')]))).toBe(true);
        expect(await conversations.replaceMessage(final('s3', undefined))).toBe(true);
        expect(await conversations.replaceMessage(final('s4', late))).toBe(true);
        expect(await conversations.replaceMessage(final('s5', other))).toBe(true);
        const stored = new Map((await conversations.listMessages(conversation.id)).map((m) => [m.id, m]));
        expect(stored.get('s1')).toEqual(final('s1', checkpointed));
        expect(stored.get('s2')).toEqual(final('s2', [source('9', 'doc_9')]));
        expect(stored.get('s3')).toEqual(final('s3', undefined));
        expect(stored.get('s4')).toEqual(final('s4', late));
        expect(stored.get('s5')).toEqual(final('s5', other));
        // Stored again with the same sources after it ended (an answer's owner lost, say): still written.
        expect(await conversations.replaceMessage({ ...final('s3', other), status: 'failed' })).toBe(true);
        expect((await conversations.findMessageByRun('run_s3'))?.sources).toEqual(other);
        // A checkpoint batch that fails stores nothing, so nothing is kept at the end either.
        for (const id of ['s6', 's7']) await conversations.appendMessage(streaming(id));
        const refused = [source('1', 'doc_6')];
        await expect(
          conversations.checkpointMessages([
            { id: 's6', content: 'Ans', sources: refused },
            { id: 's7', content: null as unknown as string },
          ]),
        ).rejects.toThrow();
        expect(await conversations.replaceMessage(final('s6', refused))).toBe(true);
        expect((await conversations.findMessageByRun('run_s6'))?.sources).toEqual(refused);
      });

      it('marks answers left streaming (last saved over a minute ago) as interrupted, keeping their text', async () => {
        const conversations = stores.conversations;
        const first = await conversations.createConversation('alice', 'default');
        const second = await conversations.createConversation('bob', 'default');
        const answer = (id: string, conversationId: string, status: 'streaming' | 'complete') => ({
          id,
          conversationId,
          role: 'assistant' as const,
          content: '',
          createdAt: first.createdAt + 1,
          status,
          runId: `run_${id}`,
        });
        await conversations.appendMessage(answer('cut1', first.id, 'streaming'));
        await conversations.checkpointMessage('cut1', { content: 'Half an ans' });
        await conversations.appendMessage(answer('cut2', second.id, 'streaming'));
        await conversations.appendMessage({ ...answer('whole', second.id, 'complete'), content: 'Done.' });
        // The next start comes two minutes later: a store that instances share leaves only younger answers alone.
        expect(await twoMinutesLater(() => conversations.interruptStreamingMessages())).toBe(2);
        expect(await conversations.findMessageByRun('run_cut1')).toEqual({
          ...answer('cut1', first.id, 'streaming'),
          content: 'Half an ans',
          status: 'interrupted',
          finishReason: 'aborted',
          errorCode: 'RUN_INTERRUPTED',
        });
        expect(await conversations.findMessageByRun('run_cut2')).toMatchObject({
          content: '',
          status: 'interrupted',
        });
        expect(await conversations.findMessageByRun('run_whole')).toMatchObject({
          content: 'Done.',
          status: 'complete',
        });
        // Interrupted answers take no more checkpoints, and a second start finds nothing left streaming.
        await conversations.checkpointMessage('cut1', { content: 'Half an answer' });
        expect((await conversations.findMessageByRun('run_cut1'))?.content).toBe('Half an ans');
        expect(await conversations.interruptStreamingMessages()).toBe(0);
      });

      it('reads no messages with limit 0 and all of them with a limit above their count', async () => {
        const { id } = await stores.conversations.createConversation('alice', 'default');
        for (const index of [0, 1, 2]) {
          await stores.conversations.appendMessage({
            id: `m${index}`,
            conversationId: id,
            role: 'user',
            content: `q${index}`,
            createdAt: index,
          });
        }
        expect(await stores.conversations.listMessages(id, 0)).toEqual([]);
        expect((await stores.conversations.listMessages(id, 100)).map((message) => message.id)).toEqual([
          'm0',
          'm1',
          'm2',
        ]);
      });

      it('rewrites a message only within its own conversation', async () => {
        const mine = await stores.conversations.createConversation('alice', 'default');
        const theirs = await stores.conversations.createConversation('bob', 'default');
        const message = {
          id: 'm1',
          conversationId: mine.id,
          role: 'user' as const,
          content: 'mine',
          createdAt: 1,
        };
        await stores.conversations.appendMessage(message);
        expect(
          await stores.conversations.replaceMessage({
            ...message,
            conversationId: theirs.id,
            content: 'taken',
          }),
        ).toBe(false);
        expect(await stores.conversations.listMessages(mine.id)).toEqual([message]);
        expect(await stores.conversations.listMessages(theirs.id)).toEqual([]);
      });
    });

    describe('chatbots', () => {
      it('creates, replaces, lists and deletes chatbots with their glossary', async () => {
        const created = await stores.chatbots.putChatbot({
          id: 'support',
          name: 'Support',
          collectionId: 'docs',
          systemPrompt: 'Be brief.',
          temperature: 0.2,
          maxTokens: 500,
          glossary: [{ term: 'SLA', definition: 'Service level agreement', synonyms: ['uptime promise'] }],
        });
        expect(await stores.chatbots.getChatbot('support')).toEqual(created);
        const replaced = await stores.chatbots.putChatbot({ ...created, name: 'Help desk', glossary: [] });
        expect(replaced.name).toBe('Help desk');
        expect(replaced.createdAt).toBe(created.createdAt);
        expect(await stores.chatbots.listChatbots()).toEqual([replaced]);
        expect(await stores.chatbots.deleteChatbot('support')).toBe(true);
        expect(await stores.chatbots.getChatbot('support')).toBeUndefined();
        expect(await stores.chatbots.deleteChatbot('support')).toBe(false);
      });

      it('keeps owner, model, visibility, allowed origins, limits and tools, with defaults when left out', async () => {
        const plain = await stores.chatbots.putChatbot({
          id: 'plain',
          name: 'Plain',
          collectionId: 'plain',
          systemPrompt: null,
          temperature: null,
          maxTokens: null,
          glossary: [],
        });
        expect(plain).toMatchObject({
          orgId: null,
          model: null,
          providers: [],
          visibility: 'private',
          allowedOrigins: [],
          limits: { tokensPerDay: null },
          tools: { searchDocuments: false, maxSteps: 5, mcpServers: [], allowedTools: null },
        });
        const shop = await stores.chatbots.putChatbot({
          ...plain,
          id: 'shop',
          orgId: 'acme',
          model: 'gpt-4o-mini',
          providers: ['openai', 'ollama:llama3.2'],
          visibility: 'public',
          allowedOrigins: ['https://shop.example'],
          limits: { tokensPerDay: 50_000 },
          tools: {
            searchDocuments: true,
            maxSteps: 8,
            mcpServers: [
              {
                name: 'files',
                transport: 'stdio',
                command: 'npx',
                args: ['-y', 'some-mcp-server'],
                env: { API_TOKEN: 'secret' },
                timeoutMs: 5_000,
                maxResultChars: null,
              },
              {
                name: 'crm',
                transport: 'http',
                url: 'https://mcp.example/mcp',
                headers: { authorization: 'Bearer x' },
                timeoutMs: null,
                maxResultChars: 4_000,
              },
            ],
            allowedTools: ['files__read', 'crm__lookup'],
          },
        });
        expect(await stores.chatbots.getChatbot('shop')).toEqual(shop);
        expect(shop.tools.mcpServers).toHaveLength(2);
        expect(shop).toMatchObject({ orgId: 'acme', visibility: 'public', limits: { tokensPerDay: 50_000 } });
      });
    });

    describe('collections', () => {
      const bot = (id: string, collectionId: string, orgId: string | null) => ({
        id,
        name: id,
        collectionId,
        orgId,
        systemPrompt: null,
        temperature: null,
        maxTokens: null,
        glossary: [],
      });

      it('belong to the organisation whose chatbot first used them, after the chatbot is gone', async () => {
        expect(await stores.chatbots.collectionOwner('acme-kb')).toBeUndefined();
        await stores.chatbots.putChatbot(bot('acme-bot', 'acme-kb', 'acme'));
        expect(await stores.chatbots.collectionOwner('acme-kb')).toEqual({ orgId: 'acme' });
        // Another organisation's chatbot put on it (by an admin of no organisation) does not take it over.
        await stores.chatbots.putChatbot(bot('globex-bot', 'acme-kb', 'globex'));
        expect(await stores.chatbots.collectionOwner('acme-kb')).toEqual({ orgId: 'acme' });
        await stores.chatbots.deleteChatbot('acme-bot');
        await stores.chatbots.deleteChatbot('globex-bot');
        expect(await stores.chatbots.collectionOwner('acme-kb')).toEqual({ orgId: 'acme' });
      });

      it('that documents were put into first belong to admins of no organisation', async () => {
        await stores.documents.upsertDocument(
          documentInput('a.txt', 'a', { collectionId: 'ingested' }),
          chunks('text'),
        );
        await stores.chatbots.putChatbot(bot('late-bot', 'ingested', 'acme'));
        expect(await stores.chatbots.collectionOwner('ingested')).toEqual({ orgId: null });
      });
    });

    describe('API keys', () => {
      it('creates a key shown once, verifies it, lists it without its secret, and revokes it', async () => {
        const { key, token } = await stores.apiKeys.createApiKey({
          name: 'backend',
          orgId: 'acme',
          admin: false,
        });
        expect(token).toMatch(/^rk_[A-Za-z0-9]{12}_[\w-]{43}$/);
        expect(token).toContain(key.id);
        expect(await stores.apiKeys.verifyApiKey(token)).toMatchObject({
          id: key.id,
          orgId: 'acme',
          admin: false,
        });
        expect((await stores.apiKeys.getApiKey(key.id))?.lastUsedAt).not.toBeNull();
        // A wrong secret, a malformed token and an unknown id are all simply not keys.
        const wrong = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
        expect(await stores.apiKeys.verifyApiKey(wrong)).toBeUndefined();
        expect(await stores.apiKeys.verifyApiKey('rk_nope')).toBeUndefined();
        expect(await stores.apiKeys.verifyApiKey(`rk_AAAAAAAAAAAA_${'x'.repeat(43)}`)).toBeUndefined();
        const listed = await stores.apiKeys.listApiKeys();
        expect(listed.map((item) => item.id)).toContain(key.id);
        expect(JSON.stringify(listed)).not.toContain(token.slice(-43));
        expect(await stores.apiKeys.listApiKeys({ orgId: 'other' })).toEqual([]);
        expect(await stores.apiKeys.revokeApiKey(key.id)).toBe(true);
        expect(await stores.apiKeys.revokeApiKey(key.id)).toBe(false);
        expect(await stores.apiKeys.verifyApiKey(token)).toBeUndefined();
        expect((await stores.apiKeys.getApiKey(key.id))?.revokedAt).not.toBeNull();
      });

      it('lists keys newest first, of one organisation or (null) of none', async () => {
        const acme = await stores.apiKeys.createApiKey({ name: 'acme', orgId: 'acme', admin: false });
        const admin = await stores.apiKeys.createApiKey({ name: 'root', orgId: null, admin: true });
        const listed = await stores.apiKeys.listApiKeys();
        expect(listed.map((key) => key.id).toSorted()).toEqual([acme.key.id, admin.key.id].toSorted());
        for (let index = 1; index < listed.length; index += 1) {
          expect(listed[index - 1]!.createdAt).toBeGreaterThanOrEqual(listed[index]!.createdAt);
        }
        expect((await stores.apiKeys.listApiKeys({ orgId: null })).map((key) => key.id)).toEqual([
          admin.key.id,
        ]);
        expect(await stores.apiKeys.listApiKeys({ orgId: 'acme' })).toEqual([acme.key]);
        expect(await stores.apiKeys.getApiKey(admin.key.id)).toMatchObject({ admin: true, orgId: null });
      });
    });

    describe('token usage', () => {
      it('adds charges per day, scope and subject', async () => {
        await stores.tokenUsage.charge(
          [
            { scope: 'chatbot', subject: 'shop' },
            { scope: 'principal', subject: 'user:ana' },
          ],
          120,
          '2026-11-24',
        );
        await stores.tokenUsage.charge([{ scope: 'principal', subject: 'user:ana' }], 30, '2026-11-24');
        expect(await stores.tokenUsage.spent('chatbot', 'shop', '2026-11-24')).toBe(120);
        expect(await stores.tokenUsage.spent('principal', 'user:ana', '2026-11-24')).toBe(150);
        expect(await stores.tokenUsage.spent('principal', 'user:ana', '2026-11-25')).toBe(0);
        expect(await stores.tokenUsage.spent('principal', 'shop', '2026-11-24')).toBe(0);
      });

      it('keeps a month of history: a charge prunes days older than that', async () => {
        const ana = [{ scope: 'principal' as const, subject: 'user:ana' }];
        await stores.tokenUsage.charge(ana, 10, '2026-10-01');
        await stores.tokenUsage.charge(ana, 20, '2026-10-30');
        await stores.tokenUsage.charge(ana, 0, '2026-11-24');
        expect(await stores.tokenUsage.spent('principal', 'user:ana', '2026-10-01')).toBe(10);
        await stores.tokenUsage.charge(ana, 30, '2026-11-24');
        expect(await stores.tokenUsage.spent('principal', 'user:ana', '2026-10-01')).toBe(0);
        expect(await stores.tokenUsage.spent('principal', 'user:ana', '2026-10-30')).toBe(20);
        expect(await stores.tokenUsage.spent('principal', 'user:ana', '2026-11-24')).toBe(30);
      });
    });

    describe('documents', () => {
      it('adds a document, skips unchanged content and replaces the chunks of changed content', async () => {
        const added = await stores.documents.upsertDocument(
          documentInput('guide.md', 'h1', { metadata: { lang: 'en' } }),
          chunks('Alpacas enjoy grazing in the highlands.', 'Llamas carry heavy packs.'),
        );
        expect(added.status).toBe('added');
        expect(added.document).toMatchObject({ source: 'guide.md', chunkCount: 2, metadata: { lang: 'en' } });
        const again = await stores.documents.upsertDocument(
          documentInput('guide.md', 'h1'),
          chunks('ignored'),
        );
        expect(again).toEqual({ status: 'unchanged', document: added.document });
        const changed = await stores.documents.upsertDocument(
          documentInput('guide.md', 'h2'),
          chunks('Vicuñas live wild in the Andes.'),
        );
        expect(changed.status).toBe('updated');
        expect(changed.document.id).toBe(added.document.id);
        expect(changed.document.contentHash).toBe('h2');
        expect(await stores.documents.searchText('docs', 'alpacas grazing', 10)).toEqual([]);
        const hits = await stores.documents.searchText('docs', 'vicunas andes', 10);
        expect(hits).toHaveLength(1);
        expect(hits[0]).toMatchObject({
          documentId: added.document.id,
          documentTitle: 'Title of guide.md',
          source: 'guide.md',
          contentHash: 'h2',
          ordinal: 0,
        });
        expect(await stores.documents.countDocuments('docs')).toEqual({ documents: 1, chunks: 1 });
      });

      it('ranks by BM25 and keeps collections apart', async () => {
        await stores.documents.upsertDocument(
          documentInput('a.txt', 'a'),
          chunks('Refunds are issued within 14 days of a return.', 'Shipping is free above 50 euros.'),
        );
        await stores.documents.upsertDocument(
          documentInput('b.txt', 'b', { collectionId: 'other' }),
          chunks('Refunds refunds refunds for the other tenant.'),
        );
        const hits = await stores.documents.searchText('docs', 'How long do refunds take?', 10);
        expect(hits.map((hit) => hit.text)).toEqual(['Refunds are issued within 14 days of a return.']);
        expect(hits[0]?.score).toBeGreaterThan(0);
        const other = await stores.documents.searchText('other', 'refunds', 10);
        expect(other.map((hit) => hit.source)).toEqual(['b.txt']);
        expect(await stores.documents.searchText('docs', '"*) OR NEAR(', 10)).toEqual([]);
      });

      it('gives the same hits and scores after merging the text index, and merging again or elsewhere is a no-op', async () => {
        await stores.documents.upsertDocument(
          documentInput('a.txt', 'a', { title: 'Returns policy' }),
          chunks('Refunds are issued within 14 days of a return.', 'Returns of opened items cost 5 euros.'),
        );
        await stores.documents.upsertDocument(
          documentInput('b.txt', 'b'),
          chunks('Refunds for damaged items are immediate.', 'Shipping is free above 50 euros.'),
        );
        const queries = ['refunds', 'returns euros', 'shipping items refunds'];
        const before = await Promise.all(
          queries.map((query) => stores.documents.searchText('docs', query, 10)),
        );
        await stores.documents.mergeTextIndex('docs');
        await stores.documents.mergeTextIndex('docs');
        await stores.documents.mergeTextIndex('missing');
        const after = await Promise.all(
          queries.map((query) => stores.documents.searchText('docs', query, 10)),
        );
        expect(after).toEqual(before);
        // Merged chunks are still replaced and deleted.
        const changed = await stores.documents.upsertDocument(
          documentInput('a.txt', 'a2'),
          chunks('Vicuñas live wild in the Andes.'),
        );
        expect(await stores.documents.searchText('docs', 'returns', 10)).toEqual([]);
        await stores.documents.mergeTextIndex('docs');
        expect(await stores.documents.deleteDocument(changed.document.id)).toBe(true);
        expect(await stores.documents.searchText('docs', 'vicunas', 10)).toEqual([]);
        expect((await stores.documents.searchText('docs', 'refunds', 10)).map((hit) => hit.source)).toEqual([
          'b.txt',
        ]);
      });

      it('ranks by rowid with a generation that every write to the collection changes, and reads chunks by rowid', async () => {
        const query = 'refunds returns';
        const empty = await stores.documents.rankText('docs', query, 10);
        expect(empty).toEqual({ generation: undefined, ranked: [] });
        const first = await stores.documents.upsertDocument(
          documentInput('a.txt', 'a'),
          chunks('Refunds are issued within 14 days of a return.', 'Returns of opened items cost 5 euros.'),
        );
        await stores.documents.upsertDocument(
          documentInput('b.txt', 'b', { collectionId: 'other' }),
          chunks('Refunds for the other tenant.'),
        );
        const ranking = await stores.documents.rankText('docs', query, 10);
        expect(ranking.generation).toEqual(expect.any(Number));
        // searchText is the ranking's chunks in rank order.
        const read = await stores.documents.chunksByRowid(
          'docs',
          ranking.ranked.map((entry) => entry.rowid),
        );
        expect(read.generation).toBe(ranking.generation);
        const hits = ranking.ranked.map(({ rowid, score }) => ({ ...read.chunks.get(rowid), score }));
        expect(hits).toEqual(await stores.documents.searchText('docs', query, 10));
        // Another collection's rowids are not read; the generation is the one asked about.
        const other = await stores.documents.rankText('other', 'refunds', 10);
        const crossed = await stores.documents.chunksByRowid(
          'docs',
          other.ranked.map((entry) => entry.rowid),
        );
        expect(crossed.chunks.size).toBe(0);
        expect(await stores.documents.chunksByRowid('docs', [])).toEqual({
          generation: undefined,
          chunks: new Map(),
        });

        const generations = [ranking.generation];
        const generation = async (): Promise<number | undefined> =>
          (await stores.documents.rankText('docs', query, 10)).generation;
        // Unchanged content and another collection's writes leave it; a replaced document, a merge, a new document
        // and a delete each change it.
        await stores.documents.upsertDocument(documentInput('a.txt', 'a'), chunks('ignored'));
        await stores.documents.upsertDocument(
          documentInput('c.txt', 'c', { collectionId: 'other' }),
          chunks('More refunds elsewhere.'),
        );
        expect(await generation()).toBe(ranking.generation);
        await stores.documents.upsertDocument(
          documentInput('a.txt', 'a2'),
          chunks('Refunds take a week now.'),
        );
        generations.push(await generation());
        await stores.documents.mergeTextIndex('docs');
        generations.push(await generation());
        const added = await stores.documents.upsertDocument(
          documentInput('d.txt', 'd'),
          chunks('Returns, then refunds.'),
        );
        generations.push(await generation());
        expect(await stores.documents.deleteDocument(added.document.id)).toBe(true);
        generations.push(await generation());
        expect(await stores.documents.deleteDocument(first.document.id)).toBe(true);
        generations.push(await generation());
        expect(new Set(generations).size).toBe(generations.length);
        // The collection's rowids gone: nothing read, whatever generation is asked about.
        const gone = await stores.documents.chunksByRowid(
          'docs',
          ranking.ranked.map((entry) => entry.rowid),
        );
        expect(gone.chunks.size).toBe(0);
      });

      it('finds words in the document title and the chunk heading', async () => {
        await stores.documents.upsertDocument(documentInput('z.md', 'z', { title: 'Kubernetes handbook' }), [
          { ordinal: 0, heading: 'Troubleshooting > Crashloops', text: 'Check the logs first.' },
        ]);
        expect(await stores.documents.searchText('docs', 'kubernetes', 5)).toHaveLength(1);
        expect(await stores.documents.searchText('docs', 'crashloops', 5)).toHaveLength(1);
      });

      it('lists newest first, fetches chunks by id, reports content hashes and deletes', async () => {
        const first = await stores.documents.upsertDocument(
          documentInput('1.txt', 'one'),
          chunks('first text'),
        );
        const second = await stores.documents.upsertDocument(
          documentInput('2.txt', 'two'),
          chunks('second text', 'more'),
        );
        const listed = await stores.documents.listDocuments('docs');
        expect(new Set(listed.map((document) => document.id))).toEqual(
          new Set([first.document.id, second.document.id]),
        );
        expect(await stores.documents.listDocuments('docs', { limit: 1, offset: 1 })).toHaveLength(1);
        expect(await stores.documents.findDocumentBySource('docs', '2.txt')).toEqual(second.document);
        const hits = await stores.documents.searchText('docs', 'second', 5);
        const fetched = await stores.documents.getChunks([hits[0]?.id ?? '', 'chk_missing']);
        expect(fetched.map((chunk) => chunk.text)).toEqual(['second text']);
        const hashes = await stores.documents.contentHashes([
          first.document.id,
          second.document.id,
          'doc_missing',
        ]);
        expect(Object.fromEntries(hashes)).toEqual({
          [first.document.id]: 'one',
          [second.document.id]: 'two',
        });
        expect(await stores.documents.deleteDocument(second.document.id)).toBe(true);
        expect(await stores.documents.deleteDocument(second.document.id)).toBe(false);
        expect(await stores.documents.getDocument(second.document.id)).toBeUndefined();
        expect(await stores.documents.searchText('docs', 'second', 5)).toEqual([]);
        expect(await stores.documents.countDocuments('docs')).toEqual({ documents: 1, chunks: 1 });
      });

      it('searches vectors by cosine similarity within a collection and one embedding space', async () => {
        if (!stores.vectors.available) return;
        const withVectors = (text: string, vector: Float32Array, ordinal: number): ChunkInput => ({
          ordinal,
          text,
          heading: '',
          embedding: vector,
        });
        await stores.documents.upsertDocument(documentInput('v.txt', 'v', { embeddingSpace: SPACE }), [
          withVectors('north', unit(1, 0, 0, 0), 0),
          withVectors('north-east', unit(1, 1, 0, 0), 1),
          withVectors('south', unit(-1, 0, 0, 0), 2),
        ]);
        await stores.documents.upsertDocument(
          documentInput('w.txt', 'w', { collectionId: 'other', embeddingSpace: SPACE }),
          [withVectors('other north', unit(1, 0, 0, 0), 0)],
        );
        expect(await stores.documents.embeddingSpace()).toEqual(SPACE);
        const hits = await stores.documents.searchVector('docs', SPACE, unit(1, 0.1, 0, 0), 2);
        expect(hits.map((hit) => hit.text)).toEqual(['north', 'north-east']);
        expect(hits[0]?.score).toBeCloseTo(0.995, 2);
        expect(
          await stores.documents.searchVector(
            'docs',
            { model: 'test:other', dimensions: 4 },
            unit(1, 0, 0, 0),
            2,
          ),
        ).toEqual([]);
        await expect(
          stores.documents.upsertDocument(
            documentInput('x.txt', 'x', { embeddingSpace: { model: 'test:other', dimensions: 3 } }),
            [withVectors('three', unit(1, 0, 0), 0)],
          ),
        ).rejects.toMatchObject({ code: 'EMBEDDING_SPACE_MISMATCH' });
        // The same content gains vectors when an embedding model appears, and loses them when they are dropped.
        await stores.documents.dropVectors();
        expect(await stores.documents.embeddingSpace()).toBeUndefined();
        expect(await stores.documents.searchVector('docs', SPACE, unit(1, 0, 0, 0), 2)).toEqual([]);
        const reembedded = await stores.documents.upsertDocument(
          documentInput('v.txt', 'v', { embeddingSpace: SPACE }),
          [withVectors('north', unit(1, 0, 0, 0), 0)],
        );
        expect(reembedded.status).toBe('updated');
        expect(reembedded.document.embeddingModel).toBe('test:bow');
        await stores.documents.deleteDocument(reembedded.document.id);
        expect(await stores.documents.searchVector('docs', SPACE, unit(1, 0, 0, 0), 2)).toEqual([]);
      });
    });

    describe('answer cache', () => {
      async function cachedAnswerOn(documentHash: string) {
        const { document } = await stores.documents.upsertDocument(
          documentInput('faq.md', documentHash),
          chunks('The office opens at nine.'),
        );
        const entry = await stores.answerCache.put({
          chatbotId: 'default',
          scope: SCOPE,
          conversationId: null,
          echoedWords: [],
          normalizedQuestion: normalizeQuestion('When does the office open?'),
          question: 'When does the office open?',
          answer: 'At nine [1].',
          sources: [source('1', document.id)],
          usage: { inputTokens: 50, outputTokens: 4 },
          documentVersions: { [document.id]: documentHash },
          embedding: { space: SPACE, vector: unit(1, 0, 0, 0) },
        });
        if (entry === undefined) throw new Error('an entry without a conversation must be stored');
        return { document, entry };
      }

      /** An entry whose answer is its question, on no documents, outside any conversation unless told. */
      function plainAnswer(question: string, more: Partial<CachedAnswerInput> = {}): CachedAnswerInput {
        return {
          chatbotId: 'default',
          scope: SCOPE,
          conversationId: null,
          echoedWords: [],
          normalizedQuestion: question,
          question,
          answer: question,
          sources: [],
          usage: null,
          documentVersions: {},
          ...more,
        };
      }

      it('hits on the same normalised question and counts hits', async () => {
        const { entry } = await cachedAnswerOn('v1');
        const found = await stores.answerCache.findExact(
          'default',
          SCOPE,
          normalizeQuestion('when does the office OPEN'),
        );
        expect(found).toMatchObject({
          id: entry.id,
          answer: 'At nine [1].',
          usage: { inputTokens: 50, outputTokens: 4 },
        });
        expect(
          await stores.answerCache.findExact('other-bot', SCOPE, entry.normalizedQuestion),
        ).toBeUndefined();
        await stores.answerCache.recordHit(entry.id);
        expect((await stores.answerCache.findExact('default', SCOPE, entry.normalizedQuestion))?.hits).toBe(
          1,
        );
      });

      it('misses once a document the answer rests on changed or was deleted', async () => {
        const { document, entry } = await cachedAnswerOn('v1');
        await stores.documents.upsertDocument(
          documentInput('faq.md', 'v2'),
          chunks('The office opens at ten.'),
        );
        expect(
          await stores.answerCache.findExact('default', SCOPE, entry.normalizedQuestion),
        ).toBeUndefined();
        const next = await cachedAnswerOn('v2');
        expect(next.document.id).toBe(document.id);
        await stores.documents.deleteDocument(document.id);
        expect(
          await stores.answerCache.findExact('default', SCOPE, entry.normalizedQuestion),
        ).toBeUndefined();
      });

      it('matches similar questions above the threshold only', async () => {
        if (!stores.vectors.available) return;
        const { entry } = await cachedAnswerOn('v1');
        const near = await stores.answerCache.findSimilar('default', SCOPE, SPACE, unit(1, 0.2, 0, 0), 0.95);
        expect(near?.entry.id).toBe(entry.id);
        expect(near?.similarity).toBeGreaterThan(0.95);
        expect(
          await stores.answerCache.findSimilar('default', SCOPE, SPACE, unit(1, 1, 0, 0), 0.95),
        ).toBeUndefined();
        expect(
          await stores.answerCache.findSimilar(
            'default',
            SCOPE,
            { model: 'test:other', dimensions: 4 },
            unit(1, 0, 0, 0),
            0.5,
          ),
        ).toBeUndefined();
      });

      it('forgets a chatbot’s answers when its settings change', async () => {
        const { entry } = await cachedAnswerOn('v1');
        await stores.chatbots.putChatbot({
          id: 'default',
          name: 'Default',
          collectionId: 'docs',
          systemPrompt: 'Answer in French.',
          temperature: null,
          maxTokens: null,
          glossary: [],
        });
        expect(
          await stores.answerCache.findExact('default', SCOPE, entry.normalizedQuestion),
        ).toBeUndefined();
      });

      it('keeps at most the configured number of entries per chatbot, newest first', async () => {
        // Closed first: a test server may serve one connection at a time (closing twice is harmless).
        await stores.close();
        const limited = await open({ maxCachedAnswersPerChatbot: 2 });
        const small = limited.answerCache;
        for (const question of ['one', 'two', 'three']) await small.put(plainAnswer(question));
        expect(await small.findExact('default', SCOPE, 'one')).toBeUndefined();
        expect((await small.findExact('default', SCOPE, 'three'))?.answer).toBe('three');
        await limited.close();
      });

      it('evicts within a chatbot only, never another chatbot’s entries', async () => {
        // Closed first: a test server may serve one connection at a time (closing twice is harmless).
        await stores.close();
        const limited = await open({ maxCachedAnswersPerChatbot: 2 });
        const small = limited.answerCache;
        await small.put(plainAnswer('quiet', { chatbotId: 'quiet-bot' }));
        for (const question of ['one', 'two', 'three', 'four']) await small.put(plainAnswer(question));
        expect((await small.findExact('quiet-bot', SCOPE, 'quiet'))?.answer).toBe('quiet');
        expect(await small.clear('default')).toBe(2);
        await limited.close();
      });

      it('serves the newest current entry of a question, removing newer ones whose documents are gone', async () => {
        const older = await stores.answerCache.put(plainAnswer('q', { answer: 'older' }));
        await stores.answerCache.put(
          plainAnswer('q', { answer: 'newer', documentVersions: { doc_deleted: 'h' } }),
        );
        expect(await stores.answerCache.findExact('default', SCOPE, 'q')).toEqual(older);
        // The stale entry was dropped on the way: only the current one is left to clear.
        expect(await stores.answerCache.clear('default')).toBe(1);
      });

      it('forgets a chatbot’s answers when the chatbot is deleted, and only its own', async () => {
        await stores.chatbots.putChatbot({
          id: 'gone',
          name: 'Gone',
          collectionId: 'docs',
          systemPrompt: null,
          temperature: null,
          maxTokens: null,
          glossary: [],
        });
        await stores.answerCache.put(plainAnswer('q', { chatbotId: 'gone' }));
        await stores.answerCache.put(plainAnswer('q'));
        expect(await stores.chatbots.deleteChatbot('gone')).toBe(true);
        expect(await stores.answerCache.findExact('gone', SCOPE, 'q')).toBeUndefined();
        expect((await stores.answerCache.findExact('default', SCOPE, 'q'))?.chatbotId).toBe('default');
      });

      it('never serves an entry outside its scope, exact or similar', async () => {
        const { entry } = await cachedAnswerOn('v1');
        for (const scope of ['org:acme', 'public']) {
          expect(
            await stores.answerCache.findExact('default', scope, entry.normalizedQuestion),
          ).toBeUndefined();
          if (stores.vectors.available) {
            expect(
              await stores.answerCache.findSimilar('default', scope, SPACE, unit(1, 0, 0, 0), 0.5),
            ).toBeUndefined();
          }
        }
        expect((await stores.answerCache.findExact('default', SCOPE, entry.normalizedQuestion))?.scope).toBe(
          SCOPE,
        );
      });

      it('forgets the answers a conversation produced when the conversation is deleted', async () => {
        const conversation = await stores.conversations.createConversation('alice', 'default');
        const other = await stores.conversations.createConversation('bob', 'default');
        const put = (conversationId: string, question: string) =>
          stores.answerCache.put(plainAnswer(question, { conversationId, echoedWords: ['4471'] }));
        await put(conversation.id, 'mine');
        await put(other.id, 'theirs');
        expect((await stores.answerCache.findExact('default', SCOPE, 'mine'))?.echoedWords).toEqual(['4471']);
        expect(await stores.conversations.deleteConversation(conversation.id)).toBe(true);
        expect(await stores.answerCache.findExact('default', SCOPE, 'mine')).toBeUndefined();
        expect((await stores.answerCache.findExact('default', SCOPE, 'theirs'))?.conversationId).toBe(
          other.id,
        );
        expect(await stores.answerCache.forgetConversation(other.id)).toBe(1);
        expect(await stores.answerCache.findExact('default', SCOPE, 'theirs')).toBeUndefined();
      });

      it('stores nothing for a conversation deleted before the answer was put (deleted while it streamed)', async () => {
        const conversation = await stores.conversations.createConversation('alice', 'default');
        await stores.conversations.deleteConversation(conversation.id);
        expect(
          await stores.answerCache.put(plainAnswer('late', { conversationId: conversation.id })),
        ).toBeUndefined();
        expect(await stores.answerCache.findExact('default', SCOPE, 'late')).toBeUndefined();
        expect(
          await stores.answerCache.put(plainAnswer('gone', { conversationId: 'conv_never-existed' })),
        ).toBeUndefined();
      });

      it('clears a chatbot’s entries', async () => {
        const { entry } = await cachedAnswerOn('v1');
        expect(await stores.answerCache.clear('default')).toBe(1);
        expect(
          await stores.answerCache.findExact('default', SCOPE, entry.normalizedQuestion),
        ).toBeUndefined();
      });
    });
  });
}

/**
 * Two store instances on one database: `owner` streams an answer; `other` takes its owner for dead (as onOwnerLost
 * does: it reads the answer, then ends it as failed with what it read) while the owner's checkpoint with the sources
 * lands; the owner, alive after all, ends the answer with its sources, which must be what is stored.
 */
export async function checkSourcesAfterOwnerLost(owner: Stores, other: Stores): Promise<void> {
  const conversation = await owner.conversations.createConversation(null, 'default');
  const answer = streamingAnswer('lost_1', conversation);
  await owner.conversations.appendMessage(answer);
  const sources = [source('1', 'doc_1')];
  const seen = await other.conversations.findMessageByRun('run_lost_1');
  if (seen === undefined) throw new Error('the other instance does not see the answer');
  await owner.conversations.checkpointMessages([{ id: 'lost_1', content: 'So', sources }]);
  expect(
    await other.conversations.replaceMessage({
      ...seen,
      status: 'failed',
      finishReason: 'error',
      errorCode: 'RUN_OWNER_LOST',
    }),
  ).toBe(true);
  const final = { ...answer, content: 'So far [1].', status: 'complete' as const, sources };
  expect(await owner.conversations.replaceMessage(final)).toBe(true);
  expect(await owner.conversations.findMessageByRun('run_lost_1')).toEqual(final);
  expect(await other.conversations.findMessageByRun('run_lost_1')).toEqual(final);
}

/**
 * The final store of an answer passed the very sources array its checkpoint stored leaves the row's sources as they
 * are instead of writing them again; once the answer has ended, a store of the same array writes them.
 * `markStoredSources(messageId)` changes the stored sources behind the store's back (the first one's title to
 * "Kept"), so that a write of them would show.
 */
export async function checkCheckpointedSourcesKept(
  stores: Stores,
  markStoredSources: (messageId: string) => Promise<unknown>,
): Promise<void> {
  const conversations = stores.conversations;
  const conversation = await conversations.createConversation(null, 'default');
  const sources = [source('1', 'doc_1')];
  const answer = streamingAnswer('a1', conversation);
  await conversations.appendMessage(answer);
  await conversations.checkpointMessages([{ id: 'a1', content: 'So', sources }]);
  await conversations.checkpointMessages([{ id: 'a1', content: 'So far' }]);
  expect((await conversations.findMessageByRun('run_a1'))?.sources).toEqual(sources);
  await markStoredSources('a1');
  const final = { ...answer, content: 'So far, so good [1].', status: 'complete' as const, sources };
  expect(await conversations.replaceMessage(final)).toBe(true);
  expect(await conversations.findMessageByRun('run_a1')).toEqual({
    ...final,
    sources: [{ ...sources[0], title: 'Kept' }],
  });
  // Stored again once ended (marked failed after all, say): the store no longer vouches for the row, and writes them.
  expect(await conversations.replaceMessage({ ...final, status: 'failed' })).toBe(true);
  expect((await conversations.findMessageByRun('run_a1'))?.sources).toEqual(sources);
}
