import { describe, expect, it } from 'vitest';
import type { GenerateRequest, LanguageModel } from '../core/provider.ts';
import type { Passage } from '../core/retriever.ts';
import { bestSentences, extractiveAnswer } from '../providers/extractive.ts';
import { reciprocalRankFusion } from './fusion.ts';
import { parseJudgeScores, rerankWithLanguageModel } from './llm-rerank.ts';

const silent = { info() {}, warn() {}, error() {}, debug() {} } as never;

function passage(id: string, text = `text ${id}`): Passage {
  return {
    chunkId: id,
    documentId: `doc_${id}`,
    documentTitle: `Doc ${id}`,
    source: `${id}.md`,
    heading: '',
    text,
    contentHash: 'h',
    score: 1,
  };
}

function judge(reply: string | Error): LanguageModel & { requests: GenerateRequest[] } {
  const requests: GenerateRequest[] = [];
  return {
    provider: 'judge',
    model: 'judge',
    requests,
    stream: () => Promise.reject(new Error('not used')),
    generate: (request) => {
      requests.push(request);
      return reply instanceof Error
        ? Promise.reject(reply)
        : Promise.resolve({ text: reply, usage: null, finishReason: 'stop' });
    },
  };
}

describe('reciprocalRankFusion', () => {
  it('rewards items both lists rank high, and keeps items only one list found', () => {
    const fused = reciprocalRankFusion(
      [
        ['a', 'b', 'c'],
        ['c', 'a', 'd'],
      ],
      (item) => item,
      60,
    );
    expect(fused.map((entry) => entry.item)).toEqual(['a', 'c', 'b', 'd']);
    expect(fused[0]?.score).toBeCloseTo(1 / 61 + 1 / 62, 10);
    expect(reciprocalRankFusion([[], []], (item: string) => item)).toEqual([]);
  });
});

describe('rerankWithLanguageModel', () => {
  it('orders passages by the judge’s scores', async () => {
    const model = judge('Here you go: {"scores": [2, 9, 5]}');
    const ranked = await rerankWithLanguageModel(
      model,
      'q',
      [passage('a'), passage('b'), passage('c')],
      new AbortController().signal,
      silent,
    );
    expect(ranked.map((entry) => entry.chunkId)).toEqual(['b', 'c', 'a']);
    expect(model.requests[0]?.temperature).toBe(0);
    expect(model.requests[0]?.messages[1]?.content).toContain('[2] Doc b: text b');
  });

  it('keeps retrieval order when the reply is unreadable or the call fails, but not when aborted', async () => {
    const passages = [passage('a'), passage('b')];
    for (const reply of ['no json', '{"scores": [1]}', '{"scores": ["x", 2]}', new Error('boom')]) {
      const ranked = await rerankWithLanguageModel(
        judge(reply),
        'q',
        passages,
        new AbortController().signal,
        silent,
      );
      expect(ranked.map((entry) => entry.chunkId)).toEqual(['a', 'b']);
    }
    const controller = new AbortController();
    controller.abort(new Error('stopped'));
    await expect(
      rerankWithLanguageModel(judge(new Error('aborted')), 'q', passages, controller.signal, silent),
    ).rejects.toThrow('stopped');
  });

  it('parses only one finite score per passage', () => {
    expect(parseJudgeScores('{"scores":[1,2]}', 2)).toEqual([1, 2]);
    expect(parseJudgeScores('{"scores":[1,null]}', 2)).toBeUndefined();
    expect(parseJudgeScores('{"scores":[1,2,3]}', 2)).toBeUndefined();
  });
});

describe('extractive answers', () => {
  it('quotes the sentences sharing the most words with the question, in their order', () => {
    const text =
      'Our office is in Lyon. Refunds are issued within 14 days. Gift cards are final. Refund requests need an order number.';
    expect(bestSentences(text, 'When are refunds issued?', 2)).toEqual([
      'Refunds are issued within 14 days.',
    ]);
    expect(bestSentences(text, 'zebra', 2)).toEqual([
      'Our office is in Lyon.',
      'Refunds are issued within 14 days.',
    ]);
  });

  it('says it is not a written answer, cites each passage, and says how to configure a model', () => {
    const answer = extractiveAnswer('refunds', [
      passage('a', 'Refunds are quick.'),
      passage('b', 'Other text.'),
    ]);
    expect(answer).toMatch(/^No language model is configured, so this is not a written answer/);
    expect(answer).toContain('**[1] Doc a**\n\n> Refunds are quick. [1]');
    expect(answer).toContain('**[2] Doc b**');
    expect(answer).toContain('LLM_BASE_URL and LLM_MODEL');
    expect(extractiveAnswer('anything', [])).toMatch(/^No language model is configured, and no passage/);
  });
});
