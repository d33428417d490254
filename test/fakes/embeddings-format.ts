// Embedding endpoints for the fake upstream: OpenAI /v1/embeddings (and Azure's deployment /embeddings), Ollama
// /api/embed. Vectors are a hashed bag of words, so texts sharing content words are close and tests can compute
// the similarities they expect with the exported function.

import type { EmbeddingsWire, Refusal } from './wire-format.ts';

/** Vector size when the request does not ask for one (OpenAI `dimensions`) and the fake was not told otherwise. */
export const FAKE_EMBEDDING_DIMENSIONS = 64;
export const OPENAI_DEFAULT_EMBEDDING_MODEL = 'text-embedding-3-small';

/** Words that carry no content, and the e5 prefixes ("query: ", "passage: "), which real models learn to discount. */
const STOPWORDS = new Set([
  'a',
  'about',
  'an',
  'and',
  'are',
  'as',
  'at',
  'be',
  'been',
  'by',
  'can',
  'do',
  'does',
  'for',
  'from',
  'has',
  'have',
  'how',
  'i',
  'in',
  'into',
  'is',
  'it',
  'its',
  'me',
  'my',
  'of',
  'on',
  'or',
  'our',
  'passage',
  'query',
  'that',
  'the',
  'these',
  'this',
  'those',
  'to',
  'was',
  'we',
  'were',
  'what',
  'which',
  'who',
  'with',
  'you',
  'your',
]);

/** Naive plural stripping: "policies" → "policy", "boxes" → "box", "files" → "file"; "class", "status" stay. */
export function singular(word: string): string {
  if (word.length > 4 && word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.length > 4 && /(?:ches|shes|sses|xes|zes)$/.test(word)) return word.slice(0, -2);
  if (word.length > 3 && word.endsWith('s') && !/(?:ss|us|is)$/.test(word)) return word.slice(0, -1);
  return word;
}

/** FNV-1a, 32 bits. */
function hash(text: string): number {
  let value = 0x811c9dc5;
  for (let index = 0; index < text.length; index += 1) {
    value ^= text.charCodeAt(index);
    value = Math.imul(value, 0x01000193);
  }
  return value >>> 0;
}

/** Lower-cased content words of a text, plurals stripped, stopwords dropped, in order. */
export function contentWords(text: string): string[] {
  const words: string[] = [];
  for (const match of text.toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    if (STOPWORDS.has(match[0])) continue;
    const word = singular(match[0]);
    if (!STOPWORDS.has(word)) words.push(word);
  }
  return words;
}

/**
 * The fake's embedding: each content word adds ±1 to one of `dimensions` slots chosen by its hash (sign from the
 * hash's top bit), then the vector is scaled to unit length. A text without content words gets one unit slot
 * chosen by the hash of the whole text, so every vector can be normalised.
 */
export function bagOfWords(text: string, dimensions = FAKE_EMBEDDING_DIMENSIONS): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  for (const word of contentWords(text)) {
    const value = hash(word);
    vector[value % dimensions]! += value >>> 31 === 1 ? -1 : 1;
  }
  const norm = Math.hypot(...vector);
  if (norm === 0) {
    vector[hash(text) % dimensions] = 1;
    return vector;
  }
  return vector.map((value) => value / norm);
}

/** Cosine similarity of two vectors (the dot product when both have unit length, as bagOfWords' do). */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let index = 0; index < a.length; index += 1) {
    const x = a[index]!;
    const y = b[index] ?? 0;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return dot / Math.sqrt(normA * normB);
}

/** `input` as a list of strings, or undefined when it is neither a string nor an array of strings. */
function inputsOf(input: unknown): string[] | undefined {
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.every((item) => typeof item === 'string')) return input;
  return undefined;
}

const tokenCount = (inputs: readonly string[]): number =>
  inputs.reduce((total, input) => total + Math.max(1, Math.ceil(input.length / 4)), 0);

/** OpenAI /v1/embeddings, Azure OpenAI /openai/deployments/<name>/embeddings, Azure AI /models/embeddings. */
export function openAIEmbeddingsWire(defaultDimensions: number): EmbeddingsWire {
  return {
    handles: (path) => path.endsWith('/embeddings'),
    refuseBody: (body): Refusal | undefined => {
      const inputs = inputsOf(body.input);
      if (inputs === undefined || inputs.length === 0) {
        return {
          status: 400,
          overrides: { message: "Missing or invalid required parameter: 'input'.", param: 'input' },
        };
      }
      if (inputs.some((input) => input === '')) {
        return { status: 400, overrides: { message: "'$.input' is invalid.", param: 'input' } };
      }
      const { dimensions, model } = body;
      if (dimensions === undefined) return undefined;
      if (typeof dimensions !== 'number' || !Number.isInteger(dimensions) || dimensions < 1) {
        return { status: 400, overrides: { message: 'Invalid dimensions.', param: 'dimensions' } };
      }
      // Azure sends no model (the deployment names it); OpenAI's older models reject the parameter.
      if (typeof model === 'string' && !model.includes('text-embedding-3')) {
        return {
          status: 400,
          overrides: { message: 'This model does not support specifying dimensions.', param: 'dimensions' },
        };
      }
      return undefined;
    },
    answer: (body) => {
      const inputs = inputsOf(body.input) ?? [];
      const dimensions = typeof body.dimensions === 'number' ? body.dimensions : defaultDimensions;
      const base64 = body.encoding_format === 'base64';
      const tokens = tokenCount(inputs);
      return JSON.stringify({
        object: 'list',
        data: inputs.map((input, index) => {
          const vector = bagOfWords(input, dimensions);
          return {
            object: 'embedding',
            index,
            embedding: base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector,
          };
        }),
        model: typeof body.model === 'string' ? body.model : OPENAI_DEFAULT_EMBEDDING_MODEL,
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      });
    },
  };
}

/** Ollama's /api/embed: `{model, input}` in, `{model, embeddings}` out; `isInstalled` as for /api/chat. */
export function ollamaEmbeddingsWire(
  defaultDimensions: number,
  isInstalled: (model: string) => boolean,
): EmbeddingsWire {
  return {
    handles: (path) => path === '/api/embed',
    refuseBody: (body): Refusal | undefined => {
      if (typeof body.model !== 'string' || body.model === '') {
        return { status: 400, overrides: { message: 'model is required' } };
      }
      if (!isInstalled(body.model)) return { status: 404, overrides: {} };
      if (inputsOf(body.input) === undefined) {
        return { status: 400, overrides: { message: 'invalid input type' } };
      }
      return undefined;
    },
    answer: (body) => {
      const inputs = inputsOf(body.input) ?? [];
      return JSON.stringify({
        model: body.model,
        embeddings: inputs.map((input) => bagOfWords(input, defaultDimensions)),
        total_duration: 14_143_917,
        load_duration: 1_019_500,
        prompt_eval_count: tokenCount(inputs),
      });
    },
  };
}
