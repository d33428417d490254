// Text analysis for lexical search: the same steps turn indexed text and queries into terms (word tokens,
// possessives and stopwords dropped, diacritics folded, Porter stems), so both sides always agree.

/**
 * Lucene's English stopwords (the set Anserini's BM25 baselines use), plus the question words and pronouns of
 * questions ("how do I reset my password?"): in a small collection "how" can be rare enough to outweigh the
 * topic. Dropped from documents and queries alike. (On SciFact the extra words change nDCG@10 by < 0.001.)
 */
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    'a an and are as at be but by for if in into is it no not of on or such that the their then there these ' +
    'they this to was will with ' +
    'what which who whom whose how why when where do does did can could should would i me my we our you your ' +
    'he she him her its from about than so'
  ).split(' '),
);

/** Longest token kept; longer runs (base64, hashes) are skipped. */
const MAX_TOKEN_LENGTH = 64;

/** Letters that carry no combining mark in Unicode, so NFKD cannot fold them. */
const FOLD: Record<string, string> = {
  ß: 'ss',
  æ: 'ae',
  œ: 'oe',
  ø: 'o',
  ł: 'l',
  đ: 'd',
  ð: 'd',
  þ: 'th',
  ı: 'i',
};

/**
 * A token is a run of letters and digits; inside a run, a period or comma between two digits ("1.5", "10,000")
 * and a period between letters ("e.g") are kept, as Lucene's standard tokenizer does. Hyphens and other
 * punctuation split ("IL-6" gives "il" and "6").
 */
const TOKEN = /[\p{L}\p{N}]+(?:[.,'’][\p{L}\p{N}]+)*/gu;

/** Any character outside ASCII: text without one normalises to itself lowercased. */
const NON_ASCII = /[\u0080-\uffff]/;

/** Lowercase, compatibility-normalized text with diacritics removed from Latin, Greek and Cyrillic letters. */
export function normalizeText(text: string): string {
  // ASCII has no compatibility forms, combining marks or folded letters, so every step below but lowercasing leaves
  // it as it is; most questions and much text are ASCII, and the Unicode normalisations are most of the cost.
  if (!NON_ASCII.test(text)) return text.toLowerCase();
  return text
    .normalize('NFKD')
    .toLowerCase()
    .replace(/(\p{Script=Latin}|\p{Script=Greek}|\p{Script=Cyrillic})\p{Mn}+/gu, '$1')
    .replace(/[ßæœøłđðþı]/g, (letter) => FOLD[letter] ?? letter)
    .normalize('NFC');
}

/** The terms of a text, in order, repeats included: what gets indexed and what a query searches for. */
export function analyze(text: string): string[] {
  const terms: string[] = [];
  for (const match of normalizeText(text).matchAll(TOKEN)) {
    for (const token of splitToken(match[0])) {
      if (token.length === 0 || token.length > MAX_TOKEN_LENGTH || STOPWORDS.has(token)) continue;
      terms.push(stem(token));
    }
  }
  return terms;
}

/** Stems of recent words: text repeats words heavily, and stemming is most of the analysis time. */
const stems = new Map<string, string>();
const STEM_CACHE_SIZE = 50_000;

function stem(token: string): string {
  let stemmed = stems.get(token);
  if (stemmed === undefined) {
    if (stems.size >= STEM_CACHE_SIZE) stems.clear();
    stemmed = porterStem(token);
    stems.set(token, stemmed);
  }
  return stemmed;
}

/**
 * Applies the inner-punctuation rules to one raw match: a possessive "'s" is dropped, other apostrophes join
 * ("don't" stays one token), a comma survives only between digits, a period between digits or between letters.
 */
function splitToken(raw: string): string[] {
  if (!/[.,'’]/.test(raw)) return [raw];
  const word = raw.replace(/['’]s$/, '').replace(/['’]/g, '');
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < word.length; i += 1) {
    const char = word[i] as string;
    if (char === '.' || char === ',') {
      const before = word[i - 1] ?? '';
      const after = word[i + 1] ?? '';
      const digits = /\p{N}/u.test(before) && /\p{N}/u.test(after);
      const letters = char === '.' && /\p{L}/u.test(before) && /\p{L}/u.test(after);
      if (digits || letters) {
        current += char;
        continue;
      }
      parts.push(current);
      current = '';
      continue;
    }
    current += char;
  }
  parts.push(current);
  return parts;
}

// ---- Porter stemmer -------------------------------------------------------------------------------------
// M. F. Porter, "An algorithm for suffix stripping", 1980, as in his reference implementation (the version
// SQLite's FTS5 porter tokenizer and Lucene's PorterStemFilter follow, including its "bli" and "logi" rules).

const VOWELS = new Set(['a', 'e', 'i', 'o', 'u']);

/** A consonant is a letter other than a vowel, or y after a vowel ("toy"); y starting a word is one too. */
function isConsonant(word: string, i: number): boolean {
  const char = word.charAt(i);
  if (VOWELS.has(char)) return false;
  if (char === 'y') return i === 0 ? true : !isConsonant(word, i - 1);
  return true;
}

/** The number of vowel-consonant sequences in word[0, end). */
function measure(word: string, end: number): number {
  let n = 0;
  let i = 0;
  while (i < end && isConsonant(word, i)) i += 1;
  while (i < end) {
    while (i < end && !isConsonant(word, i)) i += 1;
    if (i >= end) break;
    n += 1;
    while (i < end && isConsonant(word, i)) i += 1;
  }
  return n;
}

function hasVowel(word: string, end: number): boolean {
  for (let i = 0; i < end; i += 1) if (!isConsonant(word, i)) return true;
  return false;
}

/** word[end-2] and word[end-1] are the same consonant. */
function endsWithDoubleConsonant(word: string, end: number): boolean {
  return end >= 2 && word[end - 1] === word[end - 2] && isConsonant(word, end - 1);
}

/** word[0, end) ends consonant-vowel-consonant, the last consonant not w, x or y ("hop", not "snow"). */
function endsCvc(word: string, end: number): boolean {
  if (end < 3) return false;
  if (!isConsonant(word, end - 1) || isConsonant(word, end - 2) || !isConsonant(word, end - 3)) return false;
  const last = word[end - 1];
  return last !== 'w' && last !== 'x' && last !== 'y';
}

/** Replaces `suffix` by `replacement` when the stem before it has a measure above `minMeasure`. */
type Rule = readonly [suffix: string, replacement: string];

function applyRules(word: string, rules: readonly Rule[], minMeasure: number): string {
  for (const [suffix, replacement] of rules) {
    if (word.endsWith(suffix)) {
      const stem = word.length - suffix.length;
      return measure(word, stem) > minMeasure ? word.slice(0, stem) + replacement : word;
    }
  }
  return word;
}

const STEP2: readonly Rule[] = [
  ['ational', 'ate'],
  ['tional', 'tion'],
  ['enci', 'ence'],
  ['anci', 'ance'],
  ['izer', 'ize'],
  ['bli', 'ble'],
  ['alli', 'al'],
  ['entli', 'ent'],
  ['eli', 'e'],
  ['ousli', 'ous'],
  ['ization', 'ize'],
  ['ation', 'ate'],
  ['ator', 'ate'],
  ['alism', 'al'],
  ['iveness', 'ive'],
  ['fulness', 'ful'],
  ['ousness', 'ous'],
  ['aliti', 'al'],
  ['iviti', 'ive'],
  ['biliti', 'ble'],
  ['logi', 'log'],
];

const STEP3: readonly Rule[] = [
  ['icate', 'ic'],
  ['ative', ''],
  ['alize', 'al'],
  ['iciti', 'ic'],
  ['ical', 'ic'],
  ['ful', ''],
  ['ness', ''],
];

const STEP4 = [
  'al',
  'ance',
  'ence',
  'er',
  'ic',
  'able',
  'ible',
  'ant',
  'ement',
  'ment',
  'ent',
  'ion',
  'ou',
  'ism',
  'ate',
  'iti',
  'ous',
  'ive',
  'ize',
];

/** Rules whose suffixes overlap are matched on the longest suffix first, as the reference does per letter. */
function longestFirst(rules: readonly Rule[]): Rule[] {
  return [...rules].sort((a, b) => b[0].length - a[0].length);
}
const STEP2_SORTED = longestFirst(STEP2);
const STEP3_SORTED = longestFirst(STEP3);
const STEP4_SORTED = [...STEP4].sort((a, b) => b.length - a.length);

/** The Porter stem of a lowercase word; words of one or two letters and words with non-ASCII letters are kept. */
export function porterStem(input: string): string {
  if (input.length <= 2 || !/^[a-z0-9]+$/.test(input)) return input;
  let word = input;

  // Step 1a: plurals.
  if (word.endsWith('sses')) word = word.slice(0, -2);
  else if (word.endsWith('ies')) word = word.slice(0, -2);
  else if (word.endsWith('s') && !word.endsWith('ss')) word = word.slice(0, -1);

  // Step 1b: -eed, -ed, -ing.
  if (word.endsWith('eed')) {
    if (measure(word, word.length - 3) > 0) word = word.slice(0, -1);
  } else {
    const suffix = word.endsWith('ed') ? 2 : word.endsWith('ing') ? 3 : 0;
    if (suffix > 0 && hasVowel(word, word.length - suffix)) {
      word = word.slice(0, -suffix);
      if (word.endsWith('at') || word.endsWith('bl') || word.endsWith('iz')) word += 'e';
      else if (endsWithDoubleConsonant(word, word.length)) {
        const last = word[word.length - 1];
        if (last !== 'l' && last !== 's' && last !== 'z') word = word.slice(0, -1);
      } else if (measure(word, word.length) === 1 && endsCvc(word, word.length)) word += 'e';
    }
  }

  // Step 1c: y -> i when the stem has a vowel.
  if (word.endsWith('y') && hasVowel(word, word.length - 1)) word = `${word.slice(0, -1)}i`;

  word = applyRules(word, STEP2_SORTED, 0);
  word = applyRules(word, STEP3_SORTED, 0);

  // Step 4: drop a suffix when the stem has a measure above 1 ("-ion" only after s or t).
  for (const suffix of STEP4_SORTED) {
    if (!word.endsWith(suffix)) continue;
    const stem = word.length - suffix.length;
    if (suffix === 'ion' && !(stem > 0 && (word[stem - 1] === 's' || word[stem - 1] === 't'))) continue;
    if (measure(word, stem) > 1) word = word.slice(0, stem);
    break;
  }

  // Step 5a: final e; 5b: -ll.
  if (word.endsWith('e')) {
    const m = measure(word, word.length - 1);
    if (m > 1 || (m === 1 && !endsCvc(word, word.length - 1))) word = word.slice(0, -1);
  }
  if (word.endsWith('ll') && measure(word, word.length) > 1) word = word.slice(0, -1);
  return word;
}
