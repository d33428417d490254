import { describe, expect, it } from 'vitest';
import {
  fakeRetriever,
  passage,
  scriptedModel,
  testChatbot,
  testContext,
} from '../../../../test/fakes/pipeline-context.ts';
import type { AnswerCacheStore } from '../../answer-cache.ts';
import { RivuletError } from '../../errors.ts';
import { recordFailure } from '../failure.ts';
import { cachePhase } from './cache.ts';
import { enhancePhase } from './enhance.ts';
import { generatePhase } from './generate.ts';
import { historyPhase } from './history.ts';
import { notCachedReason, persistPhase } from './persist.ts';
import { rerankPhase } from './rerank.ts';
import { retrievePhase } from './retrieve.ts';

const standalone = {
  question: 'What is alpha?',
  searchQuery: 'What is alpha?',
  standalone: true,
  glossary: { terms: [], expansion: [] },
};

describe('pipeline phases', () => {
  it('history: returns finished messages only and stores the question with the answer as streaming', async () => {
    const context = testContext();
    context.conversations.messages.push(
      { id: 'm1', conversationId: 'conv_1', role: 'user', content: 'Hi', createdAt: 1 },
      {
        id: 'm2',
        conversationId: 'conv_1',
        role: 'assistant',
        content: 'part',
        createdAt: 1,
        status: 'streaming',
      },
    );
    const history = await historyPhase(context);
    expect(history).toEqual([{ role: 'user', content: 'Hi' }]);
    expect(context.conversations.messages.slice(2).map((message) => [message.role, message.status])).toEqual([
      ['user', undefined],
      ['assistant', 'streaming'],
    ]);
    expect(context.recorder.answerCreatedAt).toBeTypeOf('number');
    expect(context.run.events.map((event) => event.type)).toEqual(['phase', 'phase']);
  });

  it('history: a conversation created for this answer is neither read nor written (stored with its question and answer)', async () => {
    const context = testContext({ input: { newConversation: { messageId: 'msg_first', createdAt: 42 } } });
    let reads = 0;
    context.conversations.listTurns = () => {
      reads += 1;
      return Promise.resolve([]);
    };
    expect(await historyPhase(context)).toEqual([]);
    expect(reads).toBe(0);
    expect(context.conversations.messages).toEqual([]);
    expect(context.recorder.answerCreatedAt).toBe(42);
  });

  it('enhance: is skipped for a first question without glossary terms, and condenses a follow-up', async () => {
    const first = testContext();
    expect(await enhancePhase(first, [])).toMatchObject({ question: 'What is alpha?', standalone: true });
    expect(first.run.events).toEqual([]);

    const followUp = testContext({ deps: { assistant: scriptedModel([], 'What is alpha on Linux?') } });
    const query = await enhancePhase(followUp, [{ role: 'user', content: 'What is alpha?' }]);
    expect(query).toMatchObject({ question: 'What is alpha on Linux?', standalone: true });
    expect(followUp.run.events).toMatchObject([
      { type: 'phase', name: 'enhance', state: 'start' },
      { type: 'phase', name: 'enhance', state: 'end' },
    ]);
  });

  it('cache: without a cache or for a follow-up, nothing is looked up', async () => {
    const context = testContext();
    expect(await cachePhase(context, standalone)).toEqual({ answered: false, queryEmbedding: undefined });
    expect(context.recorder.cacheOutcome).toBe('skipped');
    expect(context.run.events).toEqual([]);
  });

  it('retrieve and rerank: search a larger pool for the reranker, then send the topK sources', async () => {
    const passages = [passage('a', 'alpha'), passage('b', 'beta'), passage('c', 'gamma')];
    const retriever = fakeRetriever(passages);
    const context = testContext({
      deps: { retriever, topK: 1, rerank: (_question, found) => Promise.resolve([...found].reverse()) },
    });
    const retrieval = await retrievePhase(context, standalone, undefined);
    expect(retriever.searches).toEqual([{ query: 'What is alpha?', limit: 3 }]);
    expect(retrieval.queryEmbedding).toBeDefined();
    const kept = await rerankPhase(context, standalone.question, retrieval.passages);
    expect(kept.map((item) => item.chunkId)).toEqual(['chunk_c']);
    expect(context.recorder.sources).toHaveLength(1);
    expect(
      context.run.events.map((event) =>
        event.type === 'phase' ? `${event.name}:${event.state}` : event.type,
      ),
    ).toEqual(['retrieve:start', 'retrieve:end', 'rerank:start', 'rerank:end', 'sources']);
  });

  it('generate: fits the prompt to the budget first, streams tokens and failovers, then usage and a held done', async () => {
    const calls: string[] = [];
    const model = scriptedModel([
      { type: 'text-delta', text: 'Al' },
      { type: 'failover', from: 'a', to: 'b', reason: 'UPSTREAM_TIMEOUT' },
      { type: 'text-delta', text: 'pha' },
      { type: 'usage', usage: { inputTokens: 5, outputTokens: 2 } },
      { type: 'finish', finishReason: 'stop' },
    ]);
    const stream = model.stream.bind(model);
    model.stream = (request, options) => {
      calls.push(`stream maxTokens=${request.maxTokens}`);
      return stream(request, options);
    };
    const context = testContext({
      deps: { model },
      input: {
        chatbot: testChatbot(),
        fitToBudget: () => {
          calls.push('fit');
          return Promise.resolve(42);
        },
      },
    });
    await generatePhase(context, { messages: [{ role: 'user', content: 'q' }], passages: [] });
    expect(calls).toEqual(['fit', 'stream maxTokens=42']);
    expect(context.run.events.map((event) => event.type)).toEqual([
      'phase',
      'token',
      'failover',
      'token',
      'phase',
      'usage',
    ]);
    expect(context.recorder.failedOver).toBe(true);
    expect(context.recorder.ending).toMatchObject({ type: 'done', text: 'Alpha', finishReason: 'stop' });
  });

  it('generate: the passages reach the answerer, and are let go once the answer has text', async () => {
    const passages = [passage('a', 'alpha')];
    const seen: (number | undefined)[] = [];
    const prompt = { messages: [{ role: 'user' as const, content: 'q' }], passages };
    const model = scriptedModel([]);
    model.stream = (request, options) => {
      seen.push(request.passages?.length);
      options.onPart({ type: 'text-delta', text: '' });
      seen.push(request.passages?.length, prompt.passages.length);
      options.onPart({ type: 'text-delta', text: 'Alpha' });
      seen.push(request.passages?.length, prompt.passages.length);
      options.onPart({ type: 'finish', finishReason: 'stop' });
      return Promise.resolve();
    };
    const context = testContext({ deps: { model } });
    await generatePhase(context, prompt);
    // An empty piece sends nothing: the extractive fallback may still need them.
    expect(seen).toEqual([1, 1, 1, undefined, 0]);
    expect(context.recorder.ending).toMatchObject({ text: 'Alpha' });
  });

  it('a stop ends quietly with done; any other failure appends a coded error', async () => {
    const stopped = testContext();
    stopped.recorder.beginPhase('generate');
    stopped.run.controller.abort(new RivuletError('RUN_STOPPED'));
    await recordFailure(stopped, stopped.run.signal.reason);
    expect(stopped.recorder).toMatchObject({ status: 'stopped', finishReason: 'aborted' });
    expect(stopped.recorder.ending).toMatchObject({ type: 'done', finishReason: 'aborted' });
    expect(stopped.run.events.at(-1)).toMatchObject({ type: 'phase', name: 'generate', state: 'end' });

    const failed = testContext();
    await recordFailure(failed, new RivuletError('UPSTREAM_UNAVAILABLE'));
    expect(failed.recorder).toMatchObject({
      status: 'failed',
      finishReason: 'error',
      errorCode: 'UPSTREAM_UNAVAILABLE',
    });
    expect(failed.run.events).toMatchObject([{ type: 'error', code: 'UPSTREAM_UNAVAILABLE' }]);
    expect(failed.recorder.ending).toBeUndefined();
  });

  it('persist: stores the answer, then sends the held done', async () => {
    const context = testContext();
    await historyPhase(context);
    context.recorder.emitToken('Alpha');
    context.recorder.holdDone();
    expect(await persistPhase(context, context.recorder.timings())).toBe(true);
    expect(context.conversations.messages.at(-1)).toMatchObject({ content: 'Alpha', status: 'complete' });
    expect(context.run.events.at(-1)).toMatchObject({ type: 'done', text: 'Alpha' });
  });

  it('persist: an answer that cannot be saved ends with a retryable STORE_UNAVAILABLE instead of done', async () => {
    const context = testContext();
    await historyPhase(context);
    context.recorder.emitToken('Alpha');
    context.recorder.holdDone();
    context.conversations.replaceError = new RivuletError('STORE_UNAVAILABLE');
    expect(await persistPhase(context, context.recorder.timings())).toBe(false);
    expect(context.run.events.at(-1)).toMatchObject({
      type: 'error',
      code: 'STORE_UNAVAILABLE',
      retryable: true,
    });
    expect(context.recorder).toMatchObject({ status: 'failed', errorCode: 'STORE_UNAVAILABLE' });
  });

  it('notCachedReason: one rule list, in order', () => {
    const basis = {
      question: 'q',
      passages: [passage('a', 'alpha')],
      queryEmbedding: undefined,
      groundedOn: () => [],
      cacheable: true,
    };
    const off = testContext();
    expect(notCachedReason(off, basis, true)).toBe('cache off or a cache hit');
    // Only whether there is a cache matters to the rules.
    const cache = {} as AnswerCacheStore;
    const on = testContext({ cache, deps: { assistant: scriptedModel([]) } });
    expect(notCachedReason(on, basis, true)).toBeUndefined();
    expect(notCachedReason(on, basis, false)).toBe('answer not stored');
    expect(notCachedReason(on, { ...basis, passages: [] }, true)).toBe('no passages matched');
    expect(notCachedReason(on, { ...basis, cacheable: false }, true)).toBe('generated with history');
    expect(notCachedReason(on, undefined, true)).toBe('answer did not complete');
    on.recorder.finishReason = 'length';
    expect(notCachedReason(on, basis, true)).toBe('answer did not complete');
  });
});
