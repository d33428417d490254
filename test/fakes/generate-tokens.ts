// Deterministic answer tokens for the fake upstreams: mostly plain words, some that break naive relays.

// Words a relay must pass through untouched; most of a generated answer is these.
const PLAIN_WORDS = [
  'the',
  'river',
  'carries',
  'answers',
  'through',
  'a',
  'stream',
  'of',
  'small',
  'tokens',
  'and',
  'every',
  'one',
  'must',
  'arrive',
  'in',
  'order',
  'without',
  'loss',
  'or',
  'change',
  'server',
  'client',
  'event',
  'reader',
  'quietly',
  'flows',
  'downstream',
];

// Each of these breaks a relay that builds SSE by hand or decodes bytes per chunk.
const HOSTILE_TOKENS = [
  '\n',
  '\r\n',
  '\r',
  '\ndata: x\n',
  '\n\n',
  '\nevent: y\n',
  '\nid: 3\n',
  ': colon first',
  '\n:not a comment',
  ' 😀',
  ' 👩‍💻',
  ' 漢字',
  '日本語',
  ' café',
  ' niño',
  ' line\u2028separator',
];

const PLAIN_SHARE = 0.7;

/** A small seeded PRNG, so generated answers and test drop points are reproducible. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(items: readonly T[], random: () => number): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

/**
 * Deterministic tokens for a seed: about 70% plain words, the rest hostile tokens. Hostile tokens are dealt
 * from seeded shuffles of the whole list rather than drawn at random, so that a few dozen tokens already
 * cover every kind.
 */
export function generateTokens(count: number, seed: number): string[] {
  const random = mulberry32(seed);
  const tokens: string[] = [];
  let deck: string[] = [];
  for (let index = 0; index < count; index += 1) {
    if (random() < PLAIN_SHARE) {
      tokens.push(` ${pick(PLAIN_WORDS, random)}`);
      continue;
    }
    if (deck.length === 0) deck = shuffled(HOSTILE_TOKENS, random);
    const hostile = deck.pop();
    if (hostile !== undefined) tokens.push(hostile);
  }
  return tokens;
}

function shuffled(items: readonly string[], random: () => number): string[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    const current = copy[index];
    const swapped = copy[other];
    if (current === undefined || swapped === undefined) continue;
    copy[index] = swapped;
    copy[other] = current;
  }
  return copy;
}
