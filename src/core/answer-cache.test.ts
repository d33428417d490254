import { describe, expect, it } from 'vitest';
import {
  cacheScope,
  echoesMatch,
  isPersonalQuestion,
  normalizeQuestion,
  wordsEchoedFromQuestion,
} from './answer-cache.ts';

describe('answer cache scope', () => {
  it('keeps organisations apart, users of none to themselves, and anonymous visitors to themselves', () => {
    expect(cacheScope({ kind: 'user', id: 'user:a', orgId: 'acme' })).toBe('org:acme');
    expect(cacheScope({ kind: 'api-key', id: 'key:k', orgId: 'acme' })).toBe('org:acme');
    // Nothing says two users without an organisation belong together (regression: they shared one scope).
    expect(cacheScope({ kind: 'user', id: 'user:dave', orgId: null })).toBe('principal:user:dave');
    expect(cacheScope({ kind: 'user', id: 'user:erin', orgId: null })).not.toBe(
      cacheScope({ kind: 'user', id: 'user:dave', orgId: null }),
    );
    expect(cacheScope({ kind: 'local', id: null, orgId: null })).toBe('local');
    expect(cacheScope({ kind: 'anonymous', id: 'anon:x', orgId: null })).toBe('public');
  });
});

describe('personal questions', () => {
  it('are told by first-person words, numbers and addresses', () => {
    for (const question of [
      'I have diabetes and was fired yesterday: when is my refund issued?',
      'When will our order arrive?',
      'Order 7781: where is it?',
      'write to dana@example.com about refunds',
      '¿Cuándo llega mi pedido?',
      "J'ai perdu ma carte, que faire ?",
      'Wann kommt meine Bestellung?',
    ]) {
      expect(isPersonalQuestion(question), question).toBe(true);
    }
    for (const question of ['When are refunds issued?', 'How does one reset a password?']) {
      expect(isPersonalQuestion(question), question).toBe(false);
    }
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
