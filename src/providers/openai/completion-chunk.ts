// A fast path for the Chat Completions stream chunk nearly every token arrives in: reads its text without building
// the chunk object. Anything else (the first chunk with the role, the finish reason, usage, errors, tool calls,
// several choices, spaced JSON) is left to JSON.parse. A property test holds it to JSON.parse on random chunks.
//
// One regular expression does it: V8 compiles it to native code, and it reads a typical chunk in about 0.14 µs,
// where a hand-written character scanner took 0.6 µs (as long as JSON.parse itself, before the chunk object's
// garbage).

/** A JSON string without escapes or control characters (ids, model names, fingerprints), quotes excluded. */
const PLAIN_STRING = '"[^"\\\\\\x00-\\x1f]*"';
/** A JSON integer: no leading zero, no fraction or exponent (those are numbers this path does not read). */
const INTEGER = '-?(?:0|[1-9][0-9]*)(?![.eE0-9])';
/**
 * Any member beside the choices: a plain string, an integer or null. Never a second `choices` (JSON.parse keeps the
 * last), and `usage` or `error` only when null (the chunk's reader acts on them otherwise).
 */
const MEMBER = `(?!"choices":)(?!"(?:usage|error)":(?!null[,}]))${PLAIN_STRING}:(?:${PLAIN_STRING}|${INTEGER}|null)`;
/** The content string's inside: escapes allowed (decoded below), control characters not. */
const CONTENT = '((?:[^"\\\\\\x00-\\x1f]|\\\\.)*)';
/** What may follow the content's closing quote, up to the end of the choices array. */
const CHOICE_TAIL =
  '\\}(?:,"finish_reason":null|,"logprobs":null,"finish_reason":null|,"finish_reason":null,"logprobs":null)\\}\\]';

const TOKEN_CHUNK = new RegExp(
  `^\\{(?:${MEMBER},)*"choices":\\[\\{"index":${INTEGER},"delta":\\{"content":"${CONTENT}"${CHOICE_TAIL}(?:,${MEMBER})*\\}$`,
);

/**
 * The text of a compact token chunk whose only choice's delta is exactly `{"content": ...}` and whose finish reason is
 * null, with nothing but plain strings, integers and nulls beside the choices (id, object, created, model,
 * system_fingerprint, usage and error when null, ...). Undefined for anything else, valid JSON or not: then JSON.parse decides.
 */
export function tokenChunkText(data: string): string | undefined {
  let match: RegExpExecArray | null;
  try {
    match = TOKEN_CHUNK.exec(data);
  } catch {
    // A pathological chunk can exhaust the expression's backtracking stack: JSON.parse takes it instead.
    return undefined;
  }
  if (match === null) return undefined;
  const raw = match[1]!;
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    // A malformed escape: JSON.parse of the whole chunk reports it.
    return undefined;
  }
}
