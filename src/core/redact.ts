// Secrets never reach a log line: provider keys, API keys, JWTs, bearer tokens and credentials in query strings are
// masked. Two strengths: maskCredentials recognises credentials by their shape and name (every log line goes through
// it, so it must leave ids and ordinary text alone); redactSecrets also masks any long mixed word, for what an
// upstream sent (error bodies and events, unparseable chunks), where a key may have any shape.

const REDACTED = '[redacted]';

/** Query parameters (and `name=value` pairs) whose value is a credential. */
const SECRET_NAMES =
  'access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token|token|api[_-]?key|apikey|key|secret|' +
  'client[_-]?secret|password|passwd|pwd|auth|authorization|sig|signature|x-amz-signature|x-goog-signature|code';

/** `?access_token=...`, `&key=...`, `access_token=...` at a word start: the value up to `&`, `#`, a quote or space. */
const SECRET_PARAMETER = new RegExp(`(^|[?&;\\s"'{(,]|\\b)(${SECRET_NAMES})=([^&#\\s"',;)}]+)`, 'giu');

const SHAPES: readonly [RegExp, (match: string, ...groups: string[]) => string][] = [
  // OpenAI, Anthropic (sk-ant-...), Stripe-style keys.
  [/\b(?:sk|pk|rk)-[\w*.-]{6,}/giu, () => REDACTED],
  // Rivulet API keys: rk_<id>_<secret>; the id is no secret and says which key it was.
  [/\b(rk_[A-Za-z0-9]{12})_[A-Za-z0-9_-]{8,}/gu, (_match, id = '') => `${id}_${REDACTED}`],
  // JWTs (header.payload.signature, base64url; the header always starts {" = eyJ).
  [/\beyJ[\w-]{4,}\.[\w-]{4,}(?:\.[\w-]*)?/gu, () => REDACTED],
  // Authorization header values.
  [/\b(bearer\s+)[\w~+/.=-]{8,}/giu, (_match, scheme = '') => `${scheme}${REDACTED}`],
  [/\b(basic\s+)(?=[\w+/=]*[\d+/=])[\w+/=]{8,}/giu, (_match, scheme = '') => `${scheme}${REDACTED}`],
  // "api_key": "...", key: ..., token=... with a value that has a digit (prose like "key points" stays).
  [
    /\b(api[-_ ]?key|x-api-key|key|token|secret|password)(["':=\s]+)(?=[\w*./+=-]*\d)[\w*./+=-]{8,}/giu,
    (_match, name = '', separator = '') => `${name}${separator}${REDACTED}`,
  ],
];

/** Masks credentials recognisable by shape or name; ids (req_..., run_..., UUIDs) and prose are left alone. */
export function maskCredentials(text: string): string {
  let masked = text.replace(
    SECRET_PARAMETER,
    (_match, before: string, name: string) => `${before}${name}=${REDACTED}`,
  );
  for (const [pattern, replace] of SHAPES) masked = masked.replace(pattern, replace);
  return masked;
}

/**
 * For text an upstream sent: providers echo credentials in error bodies ("Incorrect API key provided: sk-abc...xyz")
 * and a broken stream may carry anything, so besides what maskCredentials knows, any word of 32 or more characters
 * that mixes letters and digits is masked too.
 */
export function redactSecrets(text: string): string {
  return maskCredentials(text).replace(
    /\b[\w-]*[A-Za-z][\w-]*\d[\w-]*\b|\b[\w-]*\d[\w-]*[A-Za-z][\w-]*\b/gu,
    (word) => (word.length >= 32 ? REDACTED : word),
  );
}

/**
 * Upstream content for a log detail: redacted before it is cut to `maxChars`, so a key cut in half is still masked.
 * Only a bounded prefix is scanned.
 */
export function upstreamExcerpt(text: string, maxChars = 200): string {
  return redactSecrets(text.slice(0, maxChars + 512)).slice(0, maxChars);
}

/** A request URL for the log: credentials in its query string (`?access_token=`) are masked, always. */
export function redactUrl(url: string): string {
  const query = url.indexOf('?');
  if (query === -1) return url;
  return url.slice(0, query) + maskCredentials(url.slice(query));
}
