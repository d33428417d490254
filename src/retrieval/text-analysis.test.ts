import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { analyze, normalizeText, porterStem } from './text-analysis.ts';

describe('porterStem', () => {
  it('follows the reference implementation', () => {
    // From Porter's sample vocabulary; the same stems as SQLite FTS5's porter tokenizer.
    const cases: Record<string, string> = {
      caresses: 'caress',
      ponies: 'poni',
      ties: 'ti',
      cats: 'cat',
      agreed: 'agre',
      plastered: 'plaster',
      bled: 'bled',
      motoring: 'motor',
      sing: 'sing',
      conflated: 'conflat',
      sized: 'size',
      hopping: 'hop',
      falling: 'fall',
      filing: 'file',
      happy: 'happi',
      sky: 'sky',
      relational: 'relat',
      conditional: 'condit',
      conformabli: 'conform',
      vietnamization: 'vietnam',
      decisiveness: 'decis',
      sensibiliti: 'sensibl',
      triplicate: 'triplic',
      formative: 'form',
      electrical: 'electr',
      allowance: 'allow',
      adoption: 'adopt',
      homologous: 'homolog',
      effective: 'effect',
      bowdlerize: 'bowdler',
      controll: 'control',
      generalizations: 'gener',
      oscillators: 'oscil',
      running: 'run',
      runs: 'run',
      as: 'as',
      p53: 'p53',
    };
    for (const [word, stem] of Object.entries(cases)) expect(porterStem(word), word).toBe(stem);
  });
});

describe('analyze', () => {
  it('splits on punctuation but keeps decimal numbers, digit groups and dotted abbreviations', () => {
    expect(analyze('IL-6 levels rose 2.5-fold in 10,000 patients (p<0.05)')).toEqual([
      'il',
      '6',
      'level',
      'rose',
      '2.5',
      'fold',
      '10,000',
      'patient',
      'p',
      '0.05',
    ]);
    expect(analyze("The patient's café, e.g. in the U.S.")).toEqual(['patient', 'cafe', 'e.g', 'u.s']);
    expect(analyze("don't won’t")).toEqual(['dont', 'wont']);
  });

  it('drops stopwords and question words, folds case and diacritics, keeps other scripts', () => {
    expect(analyze('What is the default port?')).toEqual(['default', 'port']);
    expect(analyze('Übergröße naïve Señora Ærø Łódź')).toEqual([
      'ubergross',
      'naiv',
      'senora',
      'aero',
      'lodz',
    ]);
    expect(analyze('Ёлка 数据库')).toEqual(['елка', '数据库']);
  });

  it('returns nothing for text without words, and skips runs too long to be words', () => {
    expect(analyze('🙂🚀 *** -- "()"')).toEqual([]);
    expect(analyze(`${'x'.repeat(70)} ok`)).toEqual(['ok']);
  });
});

describe('normalizeText', () => {
  it('gives ASCII text what the full Unicode normalisation gives', () => {
    // A trailing "é" sends the text through every Unicode step (and comes out as a plain "e", composing with nothing
    // before it): the slow path's result for the text itself is that minus its last character.
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: 200 }), (text) => {
        expect(normalizeText(text)).toBe(normalizeText(`${text}\u00e9`).slice(0, -1));
      }),
      { numRuns: 2_000 },
    );
  });

  it('folds and strips marks from text with any other character', () => {
    expect(normalizeText('Crème Brûlée ÆON Straße ＡＢＣ')).toBe('creme brulee aeon strasse abc');
  });
});
