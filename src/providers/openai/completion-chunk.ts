// A fast path for the Chat Completions stream chunk nearly every token arrives in: reads its text without building
// the chunk object. Anything else (the first chunk with the role, the finish reason, usage, errors, tool calls,
// several choices, spaced JSON) is left to JSON.parse. A property test holds it to JSON.parse on random chunks.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_N = 0x6e;

const CHOICES_KEY = '"choices"';
const CHOICE_HEAD = '[{"index":';
const DELTA_HEAD = ',"delta":{"content":"';
const USAGE_KEY = '"usage"';
const ERROR_KEY = '"error"';
/** What may follow the content's closing quote, up to the end of the choices array. */
const CHOICE_TAILS = [
  '},"finish_reason":null}]',
  '},"logprobs":null,"finish_reason":null}]',
  '},"finish_reason":null,"logprobs":null}]',
];

/**
 * The text of a compact token chunk whose only choice's delta is exactly `{"content": ...}` and whose finish reason is
 * null, with nothing but plain strings, integers and nulls beside the choices (id, object, created, model,
 * system_fingerprint, usage and error when null, ...). Undefined for anything else, valid JSON or not: then JSON.parse decides.
 */
export function tokenChunkText(data: string): string | undefined {
  if (data.charCodeAt(0) !== OPEN_BRACE) return undefined;
  let pos = 1;
  let text: string | undefined;
  for (;;) {
    if (data.charCodeAt(pos) !== QUOTE) return undefined;
    if (data.startsWith(CHOICES_KEY, pos) && data.charCodeAt(pos + CHOICES_KEY.length) === COLON) {
      if (text !== undefined) return undefined;
      pos += CHOICES_KEY.length + 1;
      if (!data.startsWith(CHOICE_HEAD, pos)) return undefined;
      pos = integerEnd(data, pos + CHOICE_HEAD.length);
      if (pos === -1 || !data.startsWith(DELTA_HEAD, pos)) return undefined;
      const open = pos + DELTA_HEAD.length - 1;
      const close = stringEnd(data, open, true);
      if (close === -1) return undefined;
      text = stringValue(data, open, close);
      if (text === undefined) return undefined;
      pos = close + 1;
      const tailEnd = choiceTailEnd(data, pos);
      if (tailEnd === -1) return undefined;
      pos = tailEnd;
    } else {
      // Any other member: a plain string, an integer or null (an object, like usage or an error, is not this shape).
      const keyEnd = stringEnd(data, pos, false);
      if (keyEnd === -1 || data.charCodeAt(keyEnd + 1) !== COLON) return undefined;
      // The chunk's reader acts on usage and error unless they are null.
      const keyLength = keyEnd + 1 - pos;
      const nullOnly =
        (keyLength === USAGE_KEY.length && data.startsWith(USAGE_KEY, pos)) ||
        (keyLength === ERROR_KEY.length && data.startsWith(ERROR_KEY, pos));
      pos = keyEnd + 2;
      const code = data.charCodeAt(pos);
      if (nullOnly && code !== LOWER_N) return undefined;
      if (code === QUOTE) {
        const end = stringEnd(data, pos, false);
        if (end === -1) return undefined;
        pos = end + 1;
      } else if (code === LOWER_N) {
        if (!data.startsWith('null', pos)) return undefined;
        pos += 4;
      } else {
        pos = integerEnd(data, pos);
        if (pos === -1) return undefined;
      }
    }
    const next = data.charCodeAt(pos);
    if (next === CLOSE_BRACE) return pos === data.length - 1 ? text : undefined;
    if (next !== COMMA) return undefined;
    pos += 1;
  }
}

/** Index after the choice's tail at `pos`, or -1. */
function choiceTailEnd(data: string, pos: number): number {
  for (const tail of CHOICE_TAILS) {
    if (data.startsWith(tail, pos)) return pos + tail.length;
  }
  return -1;
}

/**
 * Index of the closing quote of the string opening at `open`, or -1 when it is not a well-formed JSON string (a raw
 * control character, the end of the text) or has an escape while `escapes` is false.
 */
function stringEnd(data: string, open: number, escapes: boolean): number {
  let pos = open + 1;
  for (;;) {
    const code = data.charCodeAt(pos);
    if (code === QUOTE) return pos;
    // NaN (past the end) fails this too.
    if (!(code >= 0x20)) return -1;
    if (code === BACKSLASH) {
      if (!escapes) return -1;
      pos += 2;
    } else pos += 1;
  }
}

/** The string between the quotes at `open` and `close`; undefined when an escape in it is malformed. */
function stringValue(data: string, open: number, close: number): string | undefined {
  const raw = data.slice(open + 1, close);
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(data.slice(open, close + 1)) as string;
  } catch {
    return undefined;
  }
}

/** Index after a JSON integer starting at `pos` (no fraction or exponent), or -1. */
function integerEnd(data: string, start: number): number {
  let pos = start;
  if (data.charCodeAt(pos) === MINUS) pos += 1;
  const digits = pos;
  while (data.charCodeAt(pos) >= ZERO && data.charCodeAt(pos) <= NINE) pos += 1;
  if (pos === digits) return -1;
  // JSON has no leading zeros.
  if (pos - digits > 1 && data.charCodeAt(digits) === ZERO) return -1;
  const next = data.charCodeAt(pos);
  // A fraction or exponent: still a number, but not one this path reads.
  if (next === 0x2e || next === 0x65 || next === 0x45) return -1;
  return pos;
}
