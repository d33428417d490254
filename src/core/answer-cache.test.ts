import { describe, expect, it } from 'vitest';
import { cacheScope, echoesMatch, normalizeQuestion, wordsEchoedFromQuestion } from './answer-cache.ts';

describe('answer cache scope', () => {
  it('keeps organisations apart and anonymous visitors to themselves', () => {
    expect(cacheScope({ kind: 'user', orgId: 'acme' })).toBe('org:acme');
    expect(cacheScope({ kind: 'api-key', orgId: 'acme' })).toBe('org:acme');
    expect(cacheScope({ kind: 'user', orgId: null })).toBe('org:');
    expect(cacheScope({ kind: 'local', orgId: null })).toBe('org:');
    expect(cacheScope({ kind: 'anonymous', orgId: null })).toBe('public');
    // An organisation cannot be named so that it lands in another scope.
    expect(cacheScope({ kind: 'user', orgId: '' })).not.toBe(cacheScope({ kind: 'anonymous', orgId: null }));
  });
});

describe('words an answer took from its question', () => {
  const passages = ['Refunds are issued within 14 days after the parcel reaches our warehouse in Lyon.'];

  it('finds the asker’s own details that the documents do not hold', () => {
    const echoed = wordsEchoedFromQuestion(
      'I am Dana Whitfield, customer 4471-8832: when is my refund issued?',
      'Dana Whitfield (4471-8832), refunds are issued within 14 days [1].',
      passages,
    );
    expect(echoed.sort()).toEqual(['4471', '8832', 'dana', 'whitfield']);
  });

  it('finds nothing when the answer only repeats the documents', () => {
    expect(
      wordsEchoedFromQuestion(
        'I am customer 4471, when is my refund issued?',
        'Within 14 days [1].',
        passages,
      ),
    ).toEqual([]);
    expect(
      wordsEchoedFromQuestion('When are refunds issued?', 'Refunds are issued within 14 days.', passages),
    ).toEqual([]);
  });

  it('serves a similar question only if it says every echoed word', () => {
    const entry = { echoedWords: ['4471', 'dana'] };
    expect(echoesMatch(entry, 'Dana here, customer 4471: my refund?')).toBe(true);
    expect(echoesMatch(entry, 'Sam here, customer 9001: my refund?')).toBe(false);
    expect(echoesMatch({ echoedWords: [] }, 'anything')).toBe(true);
  });

  it('normalises questions for exact matching', () => {
    expect(normalizeQuestion('  When are REFUNDS issued?? ')).toBe('when are refunds issued');
  });
});
