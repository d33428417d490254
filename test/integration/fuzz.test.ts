// Property-based fuzz test of every endpoint (fast-check): random and hostile bodies, headers, query strings, path
// segments, Last-Event-ID values, raw HTTP bytes and WebSocket frames, thrown at a real server in open mode and one
// in required-auth mode, each wired to a fake upstream that only answers with the provider key. Per case: the
// process still answers /healthz, nothing is a 500 (the only 5xx allowed are the documented 503s), every error is
// coded `{error: {code, message}}` with a registered code and its registered status, streams end, nothing is
// logged as an internal error, and no answer leaks a stack trace, a node_modules path, the provider key or the
// caller's token.
//
// CI runs a fixed seed and a bounded number of cases. A longer run (a failure prints the seed and path to replay):
//   FUZZ_RUNS=5000 FUZZ_SEED=$RANDOM npx vitest run test/integration/fuzz.test.ts

import fc from 'fast-check';
import { SignJWT } from 'jose';
import net from 'node:net';
import pino from 'pino';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createApp, type App } from '../../src/app.ts';
import { isLoopbackHost, loadConfig } from '../../src/config.ts';
import { ERROR_CODES, isErrorCode } from '../../src/core/errors.ts';
import { wsClientMessageSchema } from '../../src/transports/schemas.ts';
import { startFakeUpstream, type FakeUpstream } from '../fakes/openai-upstream.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
/** Per property: generous, since FUZZ_RUNS may be raised for a long run. */
const PROPERTY_TIMEOUT_MS = Math.max(60_000, RUNS * 400);
/** A response (headers and whole body, streams included: the fake answers 3 tokens) taking longer is a hang. */
const HANG_MS = 10_000;

/** The provider key: the fake upstream refuses any other, so the server must be using it, and must never show it. */
const PROVIDER_KEY = 'sk-test-SECRET-canary-123';
const JWT_SECRET = 'x'.repeat(40);
/** The 503s the error registry documents; any other 5xx is a bug. */
const DOCUMENTED_503 = new Set(['SHUTTING_DOWN', 'STORE_UNAVAILABLE', 'WEB_APP_NOT_BUILT']);
const WS_MAX_PAYLOAD = 256 * 1024;
const SERVER_FRAME_TYPES = new Set(['event', 'accepted', 'stopped', 'authenticated', 'resumed', 'error']);

type Mode = 'open' | 'required';

interface Target {
  mode: Mode;
  url: string;
  app: App;
  upstream: FakeUpstream;
  /**
   * One keep-alive connection (undici reconnects when the server closed it) for every case and the health check
   * after it: a case that leaves its connection wedged (an unread body) fails on the next request.
   */
  client: Client;
  /** Log lines at level error or above: an internal error the caller saw as something else is still a bug. */
  errorLogs: string[];
  /** Bearer tokens that sign in (required mode): admin JWT, user JWT, admin API key. */
  tokens: string[];
  /** Ids seen in answers, so later cases can aim at real runs, conversations and documents. */
  pools: { run: string[]; conv: string[]; doc: string[] };
}

async function startTarget(mode: Mode): Promise<Target> {
  const upstream = await startFakeUpstream({ scenario: { tokenCount: 3 }, requireApiKey: PROVIDER_KEY });
  const errorLogs: string[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => void errorLogs.push(line) });
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    LLM_PROVIDER: 'openai-compatible',
    LLM_BASE_URL: upstream.url,
    LLM_MODEL: 'fake-model',
    LLM_API_KEY: PROVIDER_KEY,
    DATA_DIR: ':memory:',
    SAMPLE_CORPUS: 'false',
    ...(mode === 'required' ? { AUTH_MODE: 'required', AUTH_JWT_SECRET: JWT_SECRET, LIMITS: 'off' } : {}),
  });
  const app = await createApp(config, { logger });
  const url = await app.listen();
  const tokens: string[] = [];
  if (mode === 'required') {
    const secret = new TextEncoder().encode(JWT_SECRET);
    const jwt = (sub: string, claims: Record<string, unknown>) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(sub)
        .setExpirationTime('2h')
        .sign(secret);
    tokens.push(await jwt('fuzz-admin', { role: 'admin' }), await jwt('fuzz-user', {}));
    tokens.push((await app.stores.apiKeys.createApiKey({ name: 'fuzz', orgId: null, admin: true })).token);
  }
  const client = new Client(url, { pipelining: 1 });
  return { mode, url, app, upstream, client, errorLogs, tokens, pools: { run: [], conv: [], doc: [] } };
}

let open: Target;
let required: Target;

beforeAll(async () => {
  [open, required] = await Promise.all([startTarget('open'), startTarget('required')]);
});
afterAll(async () => {
  for (const target of [open, required]) {
    await target?.client.close();
    await target?.app.close();
    await target?.upstream.close();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------------------------

/** Any UTF-16 code unit, lone surrogates included (fc's own units never produce those). */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
const nastyChar = fc.constantFrom(
  '\u0000',
  '\r',
  '\n',
  '\r\n',
  '\t',
  '\u2028',
  '\u202e',
  '\ufeff',
  '\ud800',
  '\udfff',
  '\ud83d\ude00',
  '%',
  '%00',
  '../',
  '\\',
  '"',
  "'",
  '<script>',
  '${x}',
  '{{',
  ':',
  ';',
  ',',
  '=',
  '&',
  '?',
  '#',
  ' ',
);

/** Short hostile strings: unicode, lone surrogates, control characters, separators, JavaScript's own names. */
const hostileShort: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: codeUnit, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 3, arbitrary: fc.string({ unit: nastyChar, maxLength: 12 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      '__proto__',
      'constructor',
      'prototype',
      'null',
      'undefined',
      'NaN',
      '-1',
    ),
  },
);
/** 1 KB to 100 KB of one (possibly multi-unit or invalid) character. */
const hostileLong = fc
  .tuple(
    fc.constantFrom('a', 'é', '\u0000', '😀', '\ud800', ' ', 'x\r\n'),
    fc.integer({ min: 1000, max: 100_000 }),
  )
  .map(([unit, count]) => unit.repeat(Math.ceil(count / unit.length)));
const hostileString = fc.oneof(
  { weight: 12, arbitrary: hostileShort },
  { weight: 1, arbitrary: hostileLong },
);

/** Usually `usual`, now and then `hostile`. */
function mostly<T>(usual: fc.Arbitrary<T>, hostile: fc.Arbitrary<T>, odds = 3): fc.Arbitrary<T> {
  return fc.oneof({ weight: odds, arbitrary: usual }, { weight: 1, arbitrary: hostile });
}
const absent = fc.constant(undefined);

/** Ids in our own alphabet (they pass the id schema), placeholders for ids seen earlier, or anything else. */
const idLike = fc.stringMatching(/^[\w.-]{1,40}$/);
type Pool = 'run' | 'conv' | 'doc';
const placeholder = (pool: Pool) => fc.integer({ min: 0, max: 3 }).map((index) => `{{${pool}${index}}}`);

/** Percent-encodes every byte but the unreserved ones, so any string (or byte sequence) fits a URL. */
function pctEncode(value: string | Uint8Array): string {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  let out = '';
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(char) ? char : `%${byte.toString(16).padStart(2, '0').toUpperCase()}`;
  }
  return out;
}

/** Path segments: real and made-up ids, traversal, NUL, bad percent-encoding, very long, unicode. */
const segment = (pool: Pool) =>
  fc.oneof(
    { weight: 6, arbitrary: placeholder(pool) },
    { weight: 3, arbitrary: idLike },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        '..',
        '.',
        '%2e%2e',
        '%2E%2E%2F%2E%2E',
        '%00',
        'run_x%00',
        '%',
        '%zz',
        '%ff',
        '%c0%ae',
        '%0d%0aSet-Cookie:%20x=1',
        '%E2%80%AE',
        '~',
        '*',
        ';',
        '%20',
        '__proto__',
        'constructor',
        `run_${'x'.repeat(300)}`,
        'a'.repeat(9000),
        'a'.repeat(100_000),
      ),
    },
    { weight: 3, arbitrary: hostileShort.map(pctEncode) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 24 }).map(pctEncode) },
  );

/** A query string: known keys and random ones, hostile values, repeated keys, or raw junk. */
const queryString = (keys: string[]) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant('') },
    {
      weight: 5,
      arbitrary: fc
        .array(
          fc.tuple(
            fc.oneof(
              { weight: 5, arbitrary: fc.constantFrom(...keys) },
              {
                weight: 1,
                arbitrary: fc.constantFrom('__proto__', 'constructor', 'access_token', 'a[b]', ''),
              },
              { weight: 1, arbitrary: hostileShort.map(pctEncode) },
            ),
            fc.oneof(
              fc.constantFrom(
                '1',
                '0',
                '-1',
                '50',
                '1e309',
                '1.5',
                '',
                'NaN',
                '0x10',
                '9'.repeat(40),
                'default',
              ),
              fc.constantFrom('{{run0}}', '{{run0}}:2', '{{run1}}:0', '{{conv0}}', '1:{{conv0}}', '{{doc0}}'),
              hostileString.map(pctEncode),
            ),
          ),
          { maxLength: 4 },
        )
        .map((pairs) =>
          pairs.length === 0 ? '' : `?${pairs.map(([key, value]) => `${key}=${value}`).join('&')}`,
        ),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom('?', '?&&', '?=', '?a=%zz', '?%ff=1', '?limit', '?a=1&a=2&a=3', '??x=1'),
    },
  );

/**
 * Header values a client library will send: no CR, LF, NUL or characters above U+00FF (the raw socket property
 * sends those). Rarely over Node's 16 KB header limit.
 */
const toHeaderValue = (value: string) => value.replace(/[^\t\x20-\x7e\x80-\xff]/g, '');
const headerValue = fc.oneof(
  { weight: 30, arbitrary: hostileShort.map(toHeaderValue) },
  { weight: 1, arbitrary: hostileLong.map(toHeaderValue) },
);

const jwtLooking = fc
  .tuple(
    fc.base64String({ maxLength: 60 }),
    fc.base64String({ maxLength: 200 }),
    fc.base64String({ maxLength: 60 }),
  )
  .map((parts) =>
    parts.map((part) => part.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')).join('.'),
  );
const fakeApiKey = fc.stringMatching(/^rk_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
const randomToken = fc.oneof(
  fc.stringMatching(/^[!-~]{1,80}$/),
  jwtLooking,
  fakeApiKey,
  fc.integer({ min: 1000, max: 12_000 }).map((length) => 'T'.repeat(length)),
);

/** Authorization that fails: random bearer tokens, fake API keys, tampered ones, other schemes, garbage. */
const badAuthorization = (tokens: string[]): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: randomToken.map((token) => `Bearer ${token}`) },
    ...(tokens.length > 0
      ? [
          {
            weight: 1,
            arbitrary: fc.constantFrom(...tokens).map((token) => `Bearer ${token.slice(0, -2)}xx`),
          },
        ]
      : []),
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'Bearer',
        'Bearer ',
        'bearer   x',
        'Bearer a b',
        'Basic dXNlcjpwYXNz',
        // alg "none", admin role, far expiry: must never pass.
        'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiIsInJvbGUiOiJhZG1pbiIsImV4cCI6OTk5OTk5OTk5OX0.',
      ),
    },
    { weight: 1, arbitrary: headerValue },
  );
/** Required mode: mostly a valid token (to reach the handlers); open mode: mostly none. */
const authorization = (tokens: string[]) =>
  tokens.length > 0
    ? mostly<string | undefined>(
        fc.constantFrom(...tokens).map((token) => `Bearer ${token}`),
        fc.oneof(absent, badAuthorization(tokens)),
        5,
      )
    : mostly<string | undefined>(absent, badAuthorization(tokens), 3);

const sessionId = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{16,128}$/),
  fc.constantFrom('short', 'a'.repeat(129), 'has space in it ok', '../../../../etc/pw'),
  headerValue,
);
const origin = fc.oneof(
  fc.constantFrom('null', 'https://evil.example', 'http://127.0.0.1', 'file://', 'https://a.b:99999', '*'),
  headerValue,
);
const accept = fc.oneof(
  fc.constantFrom(
    'text/event-stream',
    'application/x-ndjson',
    '*/*',
    'application/json',
    'text/event-stream, application/x-ndjson',
    'application/x-ndjson;q=0',
    'text/html',
  ),
  headerValue,
);
const lastEventId = fc.oneof(
  fc.constantFrom('{{run0}}:0', '{{run0}}:2', '{{run0}}:-1', '{{run1}}:999999999', '{{run0}}:', '{{run2}}:3'),
  fc.constantFrom('0', '1', '-1', '1e3', ' 3 ', '99999999999999999999', ':5', 'run_x:1', '::', ''),
  fc.nat().map(String),
  headerValue,
);
const contentType = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=utf-16',
      'application/json;charset=latin1',
      'APPLICATION/JSON',
      'application/json, text/plain',
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'text/plain',
      'text/plain; charset=utf-8',
      'multipart/form-data',
      'multipart/form-data; boundary=',
      'multipart/form-data; boundary=fuzz',
      'application/x-www-form-urlencoded',
      'application/octet-stream',
      'application/vnd.api+json',
      'application/',
      ';',
      '*/*',
    ),
  },
  { weight: 1, arbitrary: headerValue },
);

/** Header names a client may send; the ones undici manages itself are left out. */
const MANAGED_HEADERS = [
  'connection',
  'transfer-encoding',
  'content-length',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
];
const headerName = fc
  .stringMatching(/^[a-z][a-z0-9-]{0,20}$/)
  .filter((name) => !MANAGED_HEADERS.includes(name) && name !== 'host');

interface HeaderDefaults {
  contentType?: string;
  accept?: string;
  /** The run events route: Last-Event-ID is its business, so send one often. */
  lastEventId?: boolean;
}

const headers = (tokens: string[], defaults: HeaderDefaults = {}) =>
  fc
    .record({
      authorization: authorization(tokens),
      'content-type':
        defaults.contentType === undefined
          ? mostly<string | undefined>(absent, contentType, 1)
          : mostly<string | undefined>(fc.constant(defaults.contentType), fc.oneof(absent, contentType), 5),
      accept: mostly<string | undefined>(fc.constant(defaults.accept), accept, 2),
      'x-session-id': mostly<string | undefined>(absent, sessionId, 4),
      origin: mostly<string | undefined>(absent, origin, 4),
      'last-event-id':
        defaults.lastEventId === true ? mostly(absent, lastEventId, 1) : mostly(absent, lastEventId, 6),
      extra: mostly(fc.constant({}), fc.dictionary(headerName, headerValue, { maxKeys: 3 }), 4),
    })
    .map(({ extra, ...named }) => {
      const out: Record<string, string> = { ...extra };
      for (const [name, value] of Object.entries(named)) if (value !== undefined) out[name] = value;
      return out;
    });

/** JSON text an object can't make: `__proto__` as a real key, duplicate keys, numbers JSON.stringify won't write. */
function objectText(entries: [string, string][]): string {
  return `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`;
}
const jsonLeaf = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  hostileString.map((value) => JSON.stringify(value)),
  fc.constantFrom(
    '1e309',
    '-1e309',
    '-0',
    '1e-400',
    '123456789012345678901234567890',
    '0.1',
    '2',
    '1',
    'true',
    'null',
  ),
  fc.constantFrom('{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"admin":true}}}'),
  // Deep nesting, up to what a 1 MB body (or a 256 KB WebSocket message) holds.
  fc.integer({ min: 50, max: 100_000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`),
  fc
    .integer({ min: 50, max: 40_000 })
    .map((depth) => `${'{"a":'.repeat(depth)}{"__proto__":1}${'}'.repeat(depth)}`),
);
const extraKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'admin', 'type', ''),
  hostileString,
);

/** An object with known keys (sometimes right, often wrong types) plus random extra keys. */
const objectWith = (known: Record<string, fc.Arbitrary<string>>) =>
  fc
    .tuple(
      fc.record(
        Object.fromEntries(
          Object.entries(known).map(([key, value]) => [
            key,
            fc.oneof({ weight: 3, arbitrary: value }, jsonLeaf),
          ]),
        ),
        { requiredKeys: [] },
      ),
      fc.oneof(
        { weight: 3, arbitrary: fc.constant([] as [string, string][]) },
        fc.array(fc.tuple(extraKey, jsonLeaf), { maxLength: 3 }),
      ),
    )
    .map(([record, extra]) =>
      objectText([
        ...Object.entries(record).filter((entry): entry is [string, string] => entry[1] !== undefined),
        ...extra,
      ]),
    );

const shortMessage = fc.oneof(
  fc.constantFrom('"Hello"', '"What is Rivulet?"', '"hi"'),
  fc.string({ minLength: 1, maxLength: 60 }).map((value) => JSON.stringify(`q ${value}`)),
);
const chatFields = {
  message: fc.oneof(
    { weight: 4, arbitrary: shortMessage },
    { weight: 1, arbitrary: hostileString.map((v) => JSON.stringify(v)) },
  ),
  conversationId: fc.oneof(
    placeholder('conv').map((value) => JSON.stringify(value)),
    idLike.map((value) => JSON.stringify(value)),
    fc.constant('"../x"'),
  ),
  chatbotId: fc.oneof(
    fc.constant('"default"'),
    idLike.map((value) => JSON.stringify(value)),
  ),
  temperature: fc.oneof(
    fc.double({ min: 0, max: 2, noNaN: true }).map(String),
    fc.constantFrom('9', '-1', '"0.5"'),
  ),
  maxTokens: fc.oneof(
    fc.integer({ min: 1, max: 200 }).map(String),
    fc.constantFrom('0', '1.5', '1000001', '1e21'),
  ),
};
/** Mostly valid chat bodies (so answers really stream), else hostile ones. */
const chatBody = mostly(
  shortMessage.map((message) => `{"message":${message}}`),
  objectWith(chatFields),
  3,
);

/** Bodies of any kind: JSON values, objects, hostile text, raw bytes, truncated and deeply nested JSON. */
const anyBody: fc.Arbitrary<string | Uint8Array | undefined> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.json({ maxDepth: 4 }) },
  { weight: 3, arbitrary: objectWith({ name: jsonLeaf, id: jsonLeaf, message: jsonLeaf }) },
  { weight: 2, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2000 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      '{',
      '{"message":',
      'null',
      '[]',
      '"x"',
      '\u0000',
      '{"__proto__":{"admin":true}}',
      '{"constructor":{"prototype":{"admin":true}}}',
      '\ufeff{"message":"hi"}',
      '{"message":"hi"}{"message":"hi"}',
    ),
  },
);

// Multipart bodies for POST /api/documents: real parts, hostile names, truncated forms, wrong or missing boundaries.
const BOUNDARY = 'fuzzBoundary7MA4YWxkTrZu0gW';
const filePart = fc.record({
  field: fc.oneof(
    fc.constant('file'),
    hostileString.map((value) => value.replace(/["\r\n]/g, '')),
  ),
  filename: fc.oneof(
    fc.constantFrom(
      'notes.md',
      'a.txt',
      'data.json',
      'rows.csv',
      'x.pdf',
      'y.docx',
      'C:\\fakepath\\z.txt',
      '../../etc/passwd',
    ),
    hostileString.map((value) => value.replace(/["\r\n]/g, '')),
    fc.constant(undefined),
  ),
  contentType: fc.option(fc.constantFrom('text/plain', 'application/pdf', 'application/json', 'x/y'), {
    nil: undefined,
  }),
  content: fc.oneof(
    fc.constantFrom('# Title\n\nSome text about rivers.', '{"a":1}', 'a,b\n1,2', '%PDF-1.4 garbage', ''),
    hostileString,
    fc.uint8Array({ maxLength: 3000 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
  ),
});
const multipartBody = fc
  .tuple(
    fc.array(
      mostly(
        fc.record({
          field: fc.constant('file'),
          filename: fc.constantFrom('notes.md', 'a.txt', 'rows.csv', 'data.json'),
          contentType: fc.constant(undefined),
          content: fc.string({ minLength: 1, maxLength: 200 }).map((text) => `# Notes\n\nRivers ${text}`),
        }),
        filePart,
        2,
      ),
      { maxLength: 3 },
    ),
    fc.constantFrom(
      'complete',
      'complete',
      'complete',
      'truncated',
      'no-final',
      'garbage-preamble',
      'too-many-files',
      'too-many-fields',
    ),
  )
  .map(([parts, shape]) => {
    let text = shape === 'garbage-preamble' ? 'junk\r\n' : '';
    // Past 100 files or 20 other fields the rest of an upload is refused (413).
    const extra =
      shape === 'too-many-files'
        ? Array.from({ length: 101 }, (_, index) => ({
            field: 'file',
            filename: `f${index}.txt`,
            content: `${index}`,
          }))
        : shape === 'too-many-fields'
          ? Array.from({ length: 21 }, (_, index) => ({
              field: `f${index}`,
              filename: undefined,
              content: 'x',
            }))
          : [];
    for (const part of [...parts, ...extra]) {
      const name = part.filename === undefined ? '' : `; filename="${part.filename}"`;
      text += `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${part.field}"${name}\r\n`;
      if ('contentType' in part && part.contentType !== undefined)
        text += `Content-Type: ${part.contentType}\r\n`;
      text += `\r\n${part.content}\r\n`;
    }
    if (shape !== 'no-final') text += `--${BOUNDARY}--\r\n`;
    const bytes = Buffer.from(text, 'latin1');
    return new Uint8Array(shape === 'truncated' ? bytes.subarray(0, Math.floor(bytes.length / 2)) : bytes);
  });
const multipartType = fc.constantFrom(
  `multipart/form-data; boundary=${BOUNDARY}`,
  `multipart/form-data; boundary="${BOUNDARY}"`,
  'multipart/form-data',
  'multipart/form-data; boundary=other',
  `multipart/mixed; boundary=${BOUNDARY}`,
);

interface HttpCase {
  method: string;
  /** May hold {{run0}}-style placeholders, filled with ids seen earlier when the case runs. */
  path: string;
  headers: Record<string, string>;
  body: string | Uint8Array | undefined;
}

const anyMethod = fc.constantFrom(
  'GET',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'HEAD',
  'OPTIONS',
  'PROPFIND',
  'SEARCH',
);
const method = (...usual: string[]) =>
  fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...usual) }, { weight: 1, arbitrary: anyMethod });

/** Every endpoint, each with the methods, paths, queries, headers and bodies it is most likely to get wrong. */
function httpCase(tokens: string[]): fc.Arbitrary<HttpCase> {
  const make = (
    methods: fc.Arbitrary<string>,
    path: fc.Arbitrary<string>,
    body: fc.Arbitrary<string | Uint8Array | undefined>,
    defaults: HeaderDefaults = {},
  ) =>
    fc
      .record({ method: methods, path, headers: headers(tokens, defaults), body })
      .map((value): HttpCase => ({ ...value, body: value.method === 'HEAD' ? undefined : value.body }));
  const json = { contentType: 'application/json' };
  const chatPath = mostly(
    fc.constantFrom('/api/chat/stream', '/api/chat'),
    fc.constantFrom('/api/chat/stream/', '/api/chat//stream', '/API/chat', '/api/chat/stream?x=1'),
    8,
  );
  return fc.oneof(
    {
      weight: 8,
      arbitrary: make(
        mostly(fc.constant('POST'), anyMethod, 8),
        chatPath,
        mostly(chatBody, anyBody, 4),
        json,
      ),
    },
    {
      weight: 5,
      arbitrary: make(
        method('GET'),
        fc
          .tuple(segment('run'), queryString(['lastEventId']))
          .map(([runId, query]) => `/api/runs/${runId}/events${query}`),
        mostly(absent, anyBody, 4),
        { accept: 'text/event-stream', lastEventId: true },
      ),
    },
    {
      weight: 3,
      arbitrary: make(
        method('POST'),
        fc
          .tuple(segment('run'), queryString(['x']))
          .map(([runId, query]) => `/api/runs/${runId}/stop${query}`),
        fc.oneof(fc.constant(undefined), fc.constant(''), anyBody),
      ),
    },
    {
      weight: 4,
      arbitrary: make(
        method('GET', 'DELETE'),
        fc
          .tuple(
            fc.constantFrom('', '/{id}', '/{id}/messages', '/{id}/messages/x'),
            segment('conv'),
            queryString(['limit', 'after']),
          )
          .map(([shape, id, query]) => `/api/conversations${shape.replace('{id}', id)}${query}`),
        anyBody,
      ),
    },
    {
      weight: 3,
      arbitrary: make(
        method('POST'),
        mostly(fc.constant(''), queryString(['chatbotId', 'textFields', 'titleField']), 2).map(
          (query) => `/api/documents${query}`,
        ),
        fc.oneof({ weight: 3, arbitrary: multipartBody }, anyBody),
        { contentType: `multipart/form-data; boundary=${BOUNDARY}` },
      ).chain((value) =>
        // Most uploads get a multipart content type (some without or with the wrong boundary).
        fc
          .oneof({ weight: 3, arbitrary: multipartType }, fc.constant(value.headers['content-type']))
          .map((type) => ({
            ...value,
            headers: type === undefined ? value.headers : { ...value.headers, 'content-type': type },
          })),
      ),
    },
    {
      weight: 3,
      arbitrary: make(
        method('GET', 'DELETE'),
        fc
          .tuple(fc.boolean(), segment('doc'), queryString(['chatbotId', 'limit', 'offset']))
          .map(([byId, id, query]) => `/api/documents${byId ? `/${id}` : ''}${query}`),
        anyBody,
      ),
    },
    {
      weight: 3,
      arbitrary: make(
        method('GET'),
        fc
          .tuple(
            fc.constantFrom('/api/stats', '/api/config', '/metrics', '/healthz', '/readyz', '/api/ws', '/'),
            queryString(['chatbotId', 'provider']),
          )
          .map(([path, query]) => path + query),
        anyBody,
      ),
    },
    {
      weight: 3,
      arbitrary: make(
        method('GET', 'POST', 'PUT', 'DELETE'),
        fc
          .tuple(
            fc.constantFrom('/api/chatbots', '/api/keys'),
            fc.oneof(
              fc.constant(''),
              idLike.map((id) => `/${id}`),
              segment('doc').map((id) => `/${id}`),
            ),
            queryString(['orgId', 'limit']),
          )
          .map(([base, id, query]) => base + id + query),
        fc.oneof(
          objectWith({
            id: idLike.map((value) => JSON.stringify(value)),
            name: hostileString.map((value) => JSON.stringify(value)),
            orgId: fc.constantFrom('null', '"org"'),
            admin: fc.constantFrom('true', 'false'),
            model: fc.constantFrom('"fake-model"', '""'),
            visibility: fc.constantFrom('"public"', '"private"', '"x"'),
            allowedOrigins: fc.constantFrom('["https://a.example"]', '"*"', '[1]'),
          }),
          anyBody,
        ),
        json,
      ),
    },
    {
      weight: 2,
      arbitrary: make(
        anyMethod,
        fc.oneof(
          fc.constantFrom(
            '/api',
            '/api/',
            '/API/chat',
            '/api/./chat',
            '/api/chat/../healthz',
            '/api/chat%2Fstream',
            '/v1/chat/completions',
            '/widget.js',
            '/index.html',
            '/assets/',
            '/..%2f..%2fpackage.json',
            '/%2e%2e/%2e%2e/etc/passwd',
            '//etc/passwd',
            '/favicon.ico',
          ),
          fc.array(segment('run'), { minLength: 1, maxLength: 4 }).map((parts) => `/api/${parts.join('/')}`),
        ),
        anyBody,
      ),
    },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Sending and checking
// ---------------------------------------------------------------------------------------------------------------

const ID_PATTERNS = {
  run: /\brun_[A-Za-z0-9_-]{22}\b/g,
  conv: /\bconv_[0-9a-f-]{36}\b/g,
  doc: /\bdoc_[0-9a-f-]{36}\b/g,
} as const;

/** Replaces {{run0}} (the newest run seen), {{conv1}} (the one before the newest conversation) and so on. */
function fill(target: Target, text: string): string {
  return text.replace(
    /\{\{(run|conv|doc)(\d)\}\}/g,
    (_match, pool: 'run' | 'conv' | 'doc', index: string) => {
      const ids = target.pools[pool];
      return ids[ids.length - 1 - Number(index)] ?? `${pool}_never_seen`;
    },
  );
}

function remember(target: Target, text: string): void {
  for (const pool of ['run', 'conv', 'doc'] as const) {
    for (const [id] of text.matchAll(ID_PATTERNS[pool])) {
      const ids = target.pools[pool];
      if (ids.at(-1) === id) continue;
      ids.push(id);
      if (ids.length > 20) ids.shift();
    }
  }
}

/** The bearer token of an Authorization header (or the whole value), when long enough that an echo is no accident. */
function secretsOf(requestHeaders: Record<string, string>): string[] {
  const auth = requestHeaders.authorization;
  if (auth === undefined) return [];
  const token = /^\s*\S+\s+(\S+)/.exec(auth)?.[1];
  return [auth.trim(), token].filter((value): value is string => value !== undefined && value.length >= 12);
}

/** Leaks: stack traces, dependency paths, the provider key, the caller's own token. */
function assertNoLeak(where: string, text: string, secrets: string[]): void {
  expect(text, `${where}: stack trace`).not.toMatch(/\bat [^\n]*\.[cm]?[jt]s:\d+/);
  expect(text, `${where}: node_modules`).not.toContain('node_modules');
  expect(text, `${where}: provider key`).not.toContain(PROVIDER_KEY);
  expect(text, `${where}: provider key`).not.toContain('SECRET-canary');
  for (const secret of secrets)
    expect(text.includes(secret), `${where}: echoes the Authorization token`).toBe(false);
}

/** A coded error body: `{error: {code, message}}`, the code registered, the status the registry gives it. */
function assertCodedError(where: string, status: number, body: unknown): string {
  const error = (body as { error?: unknown } | null)?.error as
    { code?: unknown; message?: unknown } | undefined;
  expect(
    typeof error === 'object' && error !== null,
    `${where}: no {error} object in ${JSON.stringify(body)}`,
  ).toBe(true);
  const code = error?.code;
  expect(isErrorCode(code), `${where}: unregistered code ${String(code)}`).toBe(true);
  expect(typeof error?.message === 'string' && error.message !== '', `${where}: no message`).toBe(true);
  expect(ERROR_CODES[code as keyof typeof ERROR_CODES].status, `${where}: status of ${String(code)}`).toBe(
    status,
  );
  return code as string;
}

function assertServerSideStatus(where: string, status: number, code: string | undefined): void {
  expect(status, `${where}: 500`).not.toBe(500);
  if (status >= 500) {
    expect(
      status === 503 && code !== undefined && DOCUMENTED_503.has(code),
      `${where}: undocumented ${status} ${code}`,
    ).toBe(true);
  }
}

/** Every event of a stream parses, error events are coded, and (for a new answer) it ends with done or error. */
function assertStreamEvents(where: string, events: unknown[], mustEnd: boolean): void {
  for (const event of events) {
    const typed = event as { type?: unknown; code?: unknown };
    expect(typeof typed.type, `${where}: event without type`).toBe('string');
    if (typed.type === 'error') {
      expect(isErrorCode(typed.code), `${where}: error event code ${String(typed.code)}`).toBe(true);
      expect(typed.code, `${where}: internal error event`).not.toBe('INTERNAL');
    }
  }
  if (mustEnd) {
    const last = events.at(-1) as { type?: string } | undefined;
    expect(['done', 'error'], `${where}: stream ended without a terminal event`).toContain(last?.type);
  }
}

function parseSse(text: string): unknown[] {
  const events: unknown[] = [];
  for (const block of text.split('\n\n')) {
    const data = block
      .split('\n')
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).replace(/^ /, ''))
      .join('\n');
    if (data !== '') events.push(JSON.parse(data));
  }
  return events;
}

async function readWithin(stream: AsyncIterable<Buffer>, signal: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    if (signal.aborted) break;
    chunks.push(chunk);
    size += chunk.length;
    if (size > 8 * 1024 * 1024) throw new Error('answer larger than 8 MB');
  }
  return Buffer.concat(chunks);
}

/** The process is up, and the connection the case used (if the server kept it) still answers. */
async function assertAlive(target: Target): Promise<void> {
  let response;
  try {
    response = await target.client.request({
      path: '/healthz',
      method: 'GET',
      signal: AbortSignal.timeout(HANG_MS),
    });
  } catch (error) {
    throw new Error(`GET /healthz after the case: no answer within ${HANG_MS} ms (dead or wedged)`, {
      cause: error,
    });
  }
  const body = await response.body.text();
  expect(response.statusCode, `healthz after the case: ${body}`).toBe(200);
}

function assertNoErrorLogs(target: Target, where: string): void {
  const lines = target.errorLogs.splice(0);
  expect(lines, `${where}: the server logged an internal error`).toEqual([]);
}

/** Checks one HTTP answer (status, headers, body) against every property; shared with the WebSocket handshake. */
function checkAnswer(
  target: Target,
  where: string,
  answer: { method: string; path: string; status: number; headers: Record<string, unknown>; body: Buffer },
  secrets: string[],
): void {
  const { status, method: verb } = answer;
  const headerText = Object.entries(answer.headers)
    .map(([name, value]) => `${name}: ${Array.isArray(value) ? value.join(', ') : String(value)}`)
    .join('\n');
  const text = answer.body.toString('utf8');
  assertNoLeak(`${where} (headers)`, headerText, secrets);
  assertNoLeak(`${where} (body)`, text, secrets);
  remember(target, `${headerText}\n${text}`);

  const rawType = answer.headers['content-type'];
  const type = typeof rawType === 'string' ? rawType : '';
  const isJson = type.startsWith('application/json');
  let code: string | undefined;
  if (status >= 400 && verb !== 'HEAD') {
    // CORS preflights are answered by @fastify/cors before any route: a plain-text 400 for one that is not a
    // preflight (no Access-Control-Request-Method), which browsers never send.
    const corsRefusal = verb === 'OPTIONS' && status === 400 && text === 'Invalid Preflight Request';
    if (!corsRefusal) {
      expect(isJson, `${where}: error answer ${status} is ${type}: ${text.slice(0, 300)}`).toBe(true);
      const body = JSON.parse(text) as unknown;
      code = assertCodedError(where, status, body);
      // Routes that fold an answer's own error into their summary send it themselves; all else goes through the
      // error handler (x-request-id), except the not-found handler of unknown routes.
      const ownBody =
        (code === 'NOT_FOUND' &&
          (body as { error: { message: string } }).error.message === ERROR_CODES.NOT_FOUND.message) ||
        ((body as { answer?: unknown }).answer !== undefined && answer.path.startsWith('/api/chat')) ||
        (Array.isArray((body as { results?: unknown }).results) && answer.path.startsWith('/api/documents'));
      if (!ownBody) expect(answer.headers['x-request-id'], `${where}: no x-request-id`).toMatch(/^req_/);
    }
  } else if (isJson && text !== '') {
    JSON.parse(text);
  }
  assertServerSideStatus(where, status, code);
  if (status === 200 && type.startsWith('text/event-stream') && verb !== 'HEAD') {
    const events = parseSse(text);
    // Upload progress streams end with `summary` or `error`; answers with `done` or `error`.
    if (answer.path.startsWith('/api/documents')) {
      const last = events.at(-1) as { code?: unknown } | undefined;
      expect(last, `${where}: upload progress ended with nothing`).toBeDefined();
      if (last?.code !== undefined) expect(last.code).not.toBe('INTERNAL');
    } else assertStreamEvents(where, events, answer.path.startsWith('/api/chat/stream'));
  }
  if (status === 200 && type.startsWith('application/x-ndjson') && verb !== 'HEAD') {
    const events = text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as unknown);
    assertStreamEvents(where, events, true);
  }
}

/** FUZZ_STATS=1 prints what the cases reached (status and code per route), to see that they go deep enough. */
const tallies = new Map<string, number>();
function tally(key: string): void {
  if (process.env.FUZZ_STATS !== undefined) tallies.set(key, (tallies.get(key) ?? 0) + 1);
}
afterAll(() => {
  if (tallies.size === 0) return;
  const lines = [...tallies]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, count]) => `${String(count).padStart(5)} ${key}`);
  console.log(lines.join('\n'));
});

async function sendHttp(target: Target, spec: HttpCase): Promise<void> {
  const path = fill(target, spec.path);
  const requestHeaders = Object.fromEntries(
    Object.entries(spec.headers).map(([name, value]) => [name, fill(target, value)]),
  );
  const body = typeof spec.body === 'string' ? fill(target, spec.body) : spec.body;
  const where = `${target.mode} ${spec.method} ${path.slice(0, 200)}`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), HANG_MS);
  let status: number;
  let responseHeaders: Record<string, unknown>;
  let responseBody: Buffer;
  try {
    let response;
    try {
      response = await target.client.request({
        path,
        method: spec.method,
        headers: requestHeaders,
        body,
        signal: controller.signal,
      });
    } catch (error) {
      // undici refuses some requests itself (an invalid header it will not send): nothing reached the server.
      if ((error as { code?: string }).code === 'UND_ERR_INVALID_ARG') return;
      throw error;
    }
    status = response.statusCode;
    responseHeaders = response.headers;
    responseBody = await readWithin(response.body, controller.signal);
    expect(controller.signal.aborted, `${where}: no complete answer within ${HANG_MS} ms (hang)`).toBe(false);
  } catch (error) {
    if (controller.signal.aborted)
      throw new Error(`${where}: no complete answer within ${HANG_MS} ms (hang)`, { cause: error });
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const route = path
    .split('?')[0]!
    .replace(/(run|conv|doc)_[\w-]+/g, '$1_*')
    .slice(0, 50);
  tally(
    `${target.mode} ${spec.method} ${route} -> ${status} ${/"code":"(\w+)"/.exec(responseBody.toString())?.[1] ?? ''}`,
  );
  checkAnswer(
    target,
    where,
    { method: spec.method, path, status, headers: responseHeaders, body: responseBody },
    secretsOf(requestHeaders),
  );
  // A foreign page changes nothing on an open install, whatever the route.
  const apiPath = /^\/(api|v1)\//i.test(path) && !path.startsWith('/api/config');
  if (apiPath && !READ_ONLY.has(spec.method) && foreignToOpenInstall(target, requestHeaders.origin)) {
    expect(status, `${where}: a foreign page's request was served`).toBeGreaterThanOrEqual(400);
    foreignRequests += 1;
  }
  await assertAlive(target);
  assertNoErrorLogs(target, where);
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP properties
// ---------------------------------------------------------------------------------------------------------------

const settings = (): fc.Parameters<unknown> => ({ seed: SEED, numRuns: RUNS });

/**
 * Would the open install refuse this page? It serves only pages on this machine (issue 12, finding 2: a foreign
 * site planted documents with a simple multipart POST and talked to it over WebSocket). The required-auth target
 * keeps CORS_ORIGINS at `*`, so every page may try with its own credentials.
 */
function foreignToOpenInstall(target: Target, origin: string | undefined): boolean {
  if (target.mode !== 'open' || origin === undefined) return false;
  try {
    const { hostname, host } = new URL(origin);
    return !(isLoopbackHost(hostname) || host === new URL(target.url).host);
  } catch {
    return true;
  }
}

const READ_ONLY = new Set(['GET', 'HEAD', 'OPTIONS']);
/** State-changing requests from foreign pages the open install got: the cases must include some. */
let foreignRequests = 0;

describe('fuzz: HTTP endpoints', () => {
  it(
    'open mode: no 500, no crash, coded errors, no leaks, no hangs',
    async () => {
      await fc.assert(
        fc.asyncProperty(httpCase([]), (spec) => sendHttp(open, spec)),
        settings(),
      );
      // The cases reached real answers, not only refusals, and foreign pages tried to change things.
      expect(open.pools.run.length).toBeGreaterThan(0);
      expect(foreignRequests).toBeGreaterThan(0);
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'required-auth mode: no 500, no crash, coded errors, no leaks, no hangs',
    async () => {
      await fc.assert(
        fc.asyncProperty(httpCase(required.tokens), (spec) => sendHttp(required, spec)),
        settings(),
      );
      expect(required.pools.run.length).toBeGreaterThan(0);
    },
    PROPERTY_TIMEOUT_MS,
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Raw HTTP: what no client library would send
// ---------------------------------------------------------------------------------------------------------------

/** Header and request lines as bytes: NUL, bare CR or LF, obs-fold, bad Content-Length, smuggling attempts. */
const rawHeaderLine = fc.oneof(
  fc.constantFrom(
    'Host: 127.0.0.1',
    'Host:',
    'Host: a\u0000b',
    'Host: [::1',
    'Host: evil.example',
    'Content-Type: application/json',
    'Content-Type: multipart/form-data; boundary=x',
    'Content-Length: 5',
    '{{length}}',
    'Content-Length: -1',
    'Content-Length: 1, 2',
    'Content-Length: 99999999999999999999',
    'Content-Length: 0x10',
    'Transfer-Encoding: chunked',
    'Transfer-Encoding: gzip, chunked',
    'Transfer-Encoding: chunked\r\nContent-Length: 3',
    'Transfer-Encoding : chunked',
    'Expect: 100-continue',
    'Expect: 999-nope',
    'Connection: keep-alive',
    'Connection: close',
    'Connection: Upgrade\r\nUpgrade: websocket',
    'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Upgrade: h2c',
    ' folded continuation',
    'NoColon',
    ': empty-name',
    'X-A\u0000: b',
    'X-B: \u007f\u0000',
    'Accept: text/event-stream',
    'Accept: application/x-ndjson',
    'Last-Event-ID: {{run0}}:1',
    `Authorization: Bearer ${'A'.repeat(20_000)}`,
  ),
  fc
    .tuple(headerName, hostileShort)
    .map(([name, value]) => `${name}: ${Buffer.from(value, 'utf8').toString('latin1')}`),
);

/** A well-formed request with at most one part (method, target, version, headers, Host, body, line ends) mangled. */
const rawRequest = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.uint8Array({ minLength: 1, maxLength: 600 }).map((bytes) => Buffer.from(bytes)),
  },
  {
    weight: 8,
    arbitrary: fc
      .record({
        mangle: fc.oneof(
          { weight: 3, arbitrary: fc.constant('nothing') },
          {
            weight: 7,
            arbitrary: fc.constantFrom('method', 'target', 'version', 'headers', 'host', 'body', 'lineEnd'),
          },
        ),
        route: fc.constantFrom(
          ['GET', '/healthz'],
          ['POST', '/api/chat/stream'],
          ['POST', '/api/chat'],
          ['GET', '/api/runs/{{run0}}/events'],
          ['POST', '/api/runs/{{run0}}/stop'],
          ['GET', '/api/ws'],
          ['GET', '/api/documents'],
          ['POST', '/api/documents'],
          ['GET', '/api/conversations'],
          ['GET', '/api/config'],
          ['DELETE', '/api/conversations/{{conv0}}'],
        ),
        badMethod: fc.oneof(
          fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'OPTIONS', 'HEAD'),
          fc.stringMatching(/^[A-Z]{1,12}$/),
          fc.constantFrom('G ET', 'GET\u0000', '', 'get', 'PRI', 'TRACE', 'CONNECT', 'M-SEARCH', 'HEAD'),
        ),
        badTarget: fc.oneof(
          fc.constantFrom(
            '*',
            'http://evil.example/api/config',
            '/api/config HTTP/1.1',
            '/a b',
            '/\u0000',
            '',
            '/%',
            `/${'a'.repeat(20_000)}`,
          ),
          segment('run').map((id) => `/api/runs/${id}/events`),
        ),
        version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0'),
        badVersion: fc.constantFrom(
          'HTTP/2.0',
          'HTTP/1.2',
          'HTTP/0.9',
          '',
          'http/1.1',
          'HTTP/1.1 extra',
          'HTTP/1.1\u0000',
        ),
        headerLines: fc.array(
          fc.constantFrom(
            'Content-Type: application/json',
            'Accept: text/event-stream',
            'Accept: application/x-ndjson',
            'Connection: close',
            'Last-Event-ID: {{run0}}:1',
          ),
          { maxLength: 4 },
        ),
        badHeaderLines: fc.array(rawHeaderLine, { minLength: 1, maxLength: 6 }),
        body: fc.constantFrom('', '{"message":"hi"}', '{"message":"raw question"}'),
        badBody: fc.oneof(
          fc.constantFrom(
            '5\r\nhello\r\n0\r\n\r\n',
            '10\r\n{"message":"hi"}\r\n0\r\n\r\n',
            'zz\r\nxx\r\n',
            '0\r\n\r\n',
            'ffffffffffffffff\r\nx',
            'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
          ),
          fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
        ),
        badLineEnd: fc.constantFrom('\n', '\r', '\r\r\n'),
      })
      .map((parts) => {
        const { mangle } = parts;
        const body = mangle === 'body' ? parts.badBody : parts.body;
        const lineEnd = mangle === 'lineEnd' ? parts.badLineEnd : '\r\n';
        const length = `Content-Length: ${Buffer.byteLength(body, 'latin1')}`;
        const lines =
          mangle === 'headers'
            ? parts.badHeaderLines.map((line) => line.replace('{{length}}', length))
            : [...parts.headerLines, ...(body === '' ? [] : [length])];
        const requestLine = [
          mangle === 'method' ? parts.badMethod : parts.route[0],
          mangle === 'target' ? parts.badTarget : parts.route[1],
          mangle === 'version' ? parts.badVersion : parts.version,
        ].join(' ');
        const head = [requestLine, ...(mangle === 'host' ? [] : ['Host: 127.0.0.1']), ...lines];
        return Buffer.from([...head, '', body].join(lineEnd), 'latin1');
      }),
  },
);

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * The responses in a raw byte stream (pipelined ones too), as far as they can be told apart; `complete` when the
 * bytes end exactly after a whole response.
 */
function parseResponses(raw: Buffer): { responses: RawResponse[]; complete: boolean } {
  const responses: RawResponse[] = [];
  let offset = 0;
  let complete = false;
  while (offset < raw.length) {
    complete = false;
    const headEnd = raw.indexOf('\r\n\r\n', offset);
    if (headEnd === -1) break;
    const lines = raw.subarray(offset, headEnd).toString('latin1').split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (status === null) break;
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    offset = headEnd + 4;
    const code = Number(status[1]);
    let body: Buffer = Buffer.alloc(0);
    if (code < 200 || code === 204 || code === 304) {
      complete = true;
    } else if (headers['transfer-encoding']?.includes('chunked') === true) {
      const chunks: Buffer[] = [];
      for (;;) {
        const lineEnd = raw.indexOf('\r\n', offset);
        if (lineEnd === -1) break;
        const size = Number.parseInt(raw.subarray(offset, lineEnd).toString('latin1'), 16);
        if (!(size >= 0) || lineEnd + 2 + size + 2 > raw.length) break;
        chunks.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
        offset = lineEnd + 2 + size + 2;
        if (size === 0) {
          complete = true;
          break;
        }
      }
      body = Buffer.concat(chunks);
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      body = raw.subarray(offset, offset + length);
      complete = offset + length <= raw.length;
      offset += length;
    } else {
      // Read until the server closes.
      body = raw.subarray(offset);
      offset = raw.length;
    }
    responses.push({ status: code, headers, body });
    if (code === 101 || !complete) break;
  }
  return { responses, complete: complete && offset >= raw.length };
}

/**
 * Writes the bytes and collects the answer. Node drops requests still in progress when the client half-closes, so
 * the connection is half-closed only once a whole answer is in, or when the server sends nothing for a while (it
 * waits for bytes a mangled request promised). Resolves when the server closes; not closing is a hang.
 */
function sendRaw(target: Target, bytes: Buffer): Promise<Buffer> {
  const { port } = new URL(target.url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(Number(port), '127.0.0.1');
    let idle: NodeJS.Timeout | undefined;
    const halfClose = (afterMs: number): void => {
      clearTimeout(idle);
      idle = setTimeout(() => socket.end(), afterMs);
    };
    const deadline = setTimeout(() => {
      socket.destroy();
      reject(new Error(`raw request: the server neither answered nor closed within ${HANG_MS} ms (hang)`));
    }, HANG_MS);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      halfClose(parseResponses(Buffer.concat(chunks)).complete ? 0 : 2_000);
    });
    // A reset (the server refusing and closing while bytes are still on the way) is a clean refusal too.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(deadline);
      clearTimeout(idle);
      resolve(Buffer.concat(chunks));
    });
    socket.write(bytes);
    halfClose(150);
  });
}

describe('fuzz: raw HTTP bytes', () => {
  it(
    'malformed requests get coded 4xx (or a clean close), never a 5xx, a leak or a dead server',
    async () => {
      await fc.assert(
        fc.asyncProperty(rawRequest, async (bytes) => {
          const target = open;
          const filled = Buffer.from(fill(target, bytes.toString('latin1')), 'latin1');
          const raw = await sendRaw(target, filled);
          const where = `raw ${JSON.stringify(filled.toString('latin1').slice(0, 120))}`;
          const text = raw.toString('latin1');
          tally(
            `raw -> ${[...text.matchAll(/^HTTP\/1\.[01] (\d{3})/gm)].map((match) => match[1]).join(',')}`,
          );
          assertNoLeak(where, raw.toString('utf8'), []);
          const method = /^([A-Z]+) /.exec(filled.toString('latin1'))?.[1] ?? '';
          const head = filled.toString('latin1').split(/\r?\n\r?\n/)[0] ?? '';
          for (const response of parseResponses(raw).responses) {
            if (response.status === 101) break;
            // A pipelined HEAD's answer has a Content-Length but no body: the rest cannot be told apart.
            if (method === 'HEAD') break;
            // ws refuses a WebSocket handshake it cannot accept (no or bad Sec-WebSocket-Key 400, not a GET 405,
            // another version 426) with its own small text/html answer, before any of our code runs.
            const upgradeRefused =
              [400, 405, 426].includes(response.status) &&
              /\nUpgrade: websocket/i.test(head) &&
              (response.headers['content-type'] ?? '').startsWith('text/html');
            // Node itself refuses an HTTP/1.1 request without Host (RFC 9112) before any handler: an empty 400.
            const hostRefused =
              response.status === 400 &&
              response.body.length === 0 &&
              response.headers['content-type'] === undefined &&
              !/\nHost:/i.test(head);
            // And answers an `Expect:` other than 100-continue with an empty 417 (no checkExpectation listener).
            const expectRefused =
              response.status === 417 &&
              response.body.length === 0 &&
              /\nExpect: (?!100-continue)/i.test(head);
            if (upgradeRefused || hostRefused || expectRefused) continue;
            checkAnswer(
              target,
              where,
              { method, path: /^\S+ (\S+)/.exec(filled.toString('latin1'))?.[1] ?? '', ...response },
              [],
            );
          }
          await assertAlive(target);
          assertNoErrorLogs(target, where);
        }),
        settings(),
      );
    },
    PROPERTY_TIMEOUT_MS,
  );
});

// ---------------------------------------------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------------------------------------------

type WsFrame =
  | { kind: 'text'; data: string }
  | { kind: 'binary'; data: Uint8Array }
  /** A text message over the 256 KB maxPayload. */
  | { kind: 'oversized'; size: number }
  /** A text frame whose bytes are not UTF-8. */
  | { kind: 'badUtf8'; data: Uint8Array }
  | { kind: 'ping' };

/** What the server must do about the first frame of this kind: close with this code. */
const FATAL_CLOSE: Partial<Record<WsFrame['kind'], number>> = {
  binary: 1003,
  oversized: 1009,
  badUtf8: 1007,
};

const wsMessage = (tokens: string[]) => {
  const requestId = mostly(
    fc.stringMatching(/^[\w-]{1,20}$/).map((id) => JSON.stringify(id)),
    jsonLeaf,
    3,
  );
  const runRef = mostly(
    placeholder('run').map((id) => JSON.stringify(id)),
    jsonLeaf,
    3,
  );
  const token =
    tokens.length > 0
      ? mostly(
          fc.constantFrom(...tokens).map((value) => JSON.stringify(value)),
          fc.oneof(
            randomToken.map((value) => JSON.stringify(value)),
            jsonLeaf,
          ),
          2,
        )
      : fc.oneof(
          randomToken.map((value) => JSON.stringify(value)),
          jsonLeaf,
        );
  return fc.oneof(
    { weight: 4, arbitrary: shortMessage.map((message) => `{"type":"chat","message":${message}}`) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom('resume', 'stop'), placeholder('run'), fc.integer({ min: -1, max: 12 }))
        .map(
          ([type, runId, seq]) =>
            `{"type":"${type}","runId":"${runId}"${type === 'resume' ? `,"lastSeq":${seq}` : ''}}`,
        ),
    },
    ...(tokens.length > 0
      ? [
          {
            weight: 2,
            arbitrary: fc.constantFrom(...tokens).map((value) => `{"type":"auth","token":"${value}"}`),
          },
        ]
      : []),
    { weight: 3, arbitrary: objectWith({ type: fc.constant('"chat"'), requestId, ...chatFields }) },
    {
      weight: 3,
      arbitrary: objectWith({
        type: fc.constant('"resume"'),
        runId: runRef,
        lastSeq: fc.oneof(fc.integer({ min: -2, max: 20 }).map(String), fc.constantFrom('1e9', '0.5', '"1"')),
        requestId,
      }),
    },
    { weight: 2, arbitrary: objectWith({ type: fc.constant('"stop"'), runId: runRef, requestId }) },
    {
      weight: 2,
      arbitrary: objectWith({
        type: fc.constant('"auth"'),
        token,
        sessionId: sessionId.map((value) => JSON.stringify(value)),
        requestId,
      }),
    },
    {
      weight: 1,
      arbitrary: objectWith({
        type: fc.oneof(jsonLeaf, fc.constantFrom('"CHAT"', '"__proto__"', '""')),
        requestId,
      }),
    },
    { weight: 2, arbitrary: fc.json({ maxDepth: 3 }) },
    { weight: 2, arbitrary: hostileShort },
  );
};

const wsFrame = (tokens: string[]): fc.Arbitrary<WsFrame> =>
  fc.oneof(
    { weight: 40, arbitrary: wsMessage(tokens).map((data): WsFrame => ({ kind: 'text', data })) },
    {
      weight: 1,
      arbitrary: hostileLong.map((data): WsFrame => ({ kind: 'text', data: data.slice(0, 200_000) })),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 64 }).map((data): WsFrame => ({ kind: 'binary', data })),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: WS_MAX_PAYLOAD + 1, max: WS_MAX_PAYLOAD * 2 })
        .map((size): WsFrame => ({ kind: 'oversized', size })),
    },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ minLength: 1, maxLength: 16 })
        .map((bytes): WsFrame => ({ kind: 'badUtf8', data: new Uint8Array([...bytes, 0xff, 0xfe]) })),
    },
    { weight: 1, arbitrary: fc.constant<WsFrame>({ kind: 'ping' }) },
  );

interface WsCase {
  query: string;
  headers: Record<string, string>;
  protocols: string[] | undefined;
  frames: WsFrame[];
}

const wsCase = (tokens: string[]): fc.Arbitrary<WsCase> =>
  fc.record({
    query: mostly(fc.constant(''), queryString(['access_token', 'x']), 5),
    headers: fc
      .record({
        authorization: fc.oneof(
          { weight: 3, arbitrary: absent },
          ...(tokens.length > 0
            ? [{ weight: 3, arbitrary: fc.constantFrom(...tokens).map((token) => `Bearer ${token}`) }]
            : []),
          { weight: 1, arbitrary: badAuthorization(tokens) },
        ),
        'x-session-id': mostly<string | undefined>(absent, sessionId, 5),
        origin: mostly<string | undefined>(absent, origin, 3),
      })
      .map((named) =>
        Object.fromEntries(
          Object.entries(named).filter((entry): entry is [string, string] => entry[1] !== undefined),
        ),
      ),
    protocols: fc.oneof(
      { weight: 4, arbitrary: fc.constant(undefined) },
      { weight: 2, arbitrary: fc.constant<string[]>(['rivulet.v1']) },
      ...(tokens.length > 0
        ? [
            {
              weight: 3,
              arbitrary: fc.constantFrom(...tokens).map((token) => ['rivulet.v1', `rivulet.bearer.${token}`]),
            },
          ]
        : []),
      {
        weight: 1,
        arbitrary: fc
          .array(fc.stringMatching(/^[\w.!#$%&'*+^`|~-]{1,40}$/), { minLength: 1, maxLength: 3 })
          .map((protocols) => [
            'rivulet.v1',
            ...new Set(protocols.filter((protocol) => protocol !== 'rivulet.v1')),
          ]),
      },
    ),
    frames: fc.array(wsFrame(tokens), { minLength: 1, maxLength: 6 }),
  });

const wsSchema = wsClientMessageSchema();

/** How many direct answers (error, accepted, resumed, stopped) a text message gets: every one but a valid `auth`. */
function isAuthMessage(text: string): boolean {
  try {
    const parsed = wsSchema.safeParse(JSON.parse(text));
    return parsed.success && parsed.data.type === 'auth';
  } catch {
    return false;
  }
}

function checkWsFrame(
  target: Target,
  where: string,
  text: string,
  secrets: string[],
): { type: string; runId?: string; terminal: boolean } {
  assertNoLeak(where, text, secrets);
  remember(target, text);
  let frame: {
    type?: unknown;
    runId?: unknown;
    event?: { type?: unknown; code?: unknown };
    error?: { code?: unknown; status?: unknown };
  };
  try {
    frame = JSON.parse(text) as typeof frame;
  } catch {
    throw new Error(`${where}: a frame that is not JSON: ${text.slice(0, 200)}`);
  }
  expect(
    SERVER_FRAME_TYPES.has(frame.type as string),
    `${where}: unknown frame type ${String(frame.type)}`,
  ).toBe(true);
  if (frame.type === 'error') {
    const code = frame.error?.code;
    expect(isErrorCode(code), `${where}: unregistered code ${String(code)}`).toBe(true);
    expect(code, `${where}: INTERNAL error frame`).not.toBe('INTERNAL');
    expect(frame.error?.status, `${where}: status of ${String(code)}`).toBe(
      ERROR_CODES[code as keyof typeof ERROR_CODES].status,
    );
  }
  if (frame.type === 'event') assertStreamEvents(where, [frame.event], false);
  const terminal = frame.type === 'event' && (frame.event?.type === 'done' || frame.event?.type === 'error');
  return {
    type: frame.type as string,
    ...(typeof frame.runId === 'string' ? { runId: frame.runId } : {}),
    terminal,
  };
}

/** Answers started over WebSocket per mode: the cases must reach real runs, not only refusals. */
const wsRunsAccepted: Record<Mode, number> = { open: 0, required: 0 };

async function runWsCase(target: Target, spec: WsCase): Promise<void> {
  const query = fill(target, spec.query);
  const headers = Object.fromEntries(
    Object.entries(spec.headers).map(([name, value]) => [name, fill(target, value)]),
  );
  const where = `${target.mode} ws ${JSON.stringify({ query: query.slice(0, 80), headers: Object.keys(headers) })}`;
  // Tokens sent in headers, subprotocols and `auth` messages must never come back.
  const secrets = [
    ...secretsOf(headers),
    ...(spec.protocols ?? []).filter((protocol) => protocol.length >= 40),
    ...spec.frames.flatMap((frame) => {
      const token = frame.kind === 'text' ? /"token":"([^"\\]{12,})"/.exec(frame.data)?.[1] : undefined;
      return token === undefined ? [] : [token];
    }),
  ];
  const socket = new WebSocket(`${target.url.replace(/^http/, 'ws')}/api/ws${query}`, spec.protocols, {
    headers,
    maxPayload: 64 * 1024 * 1024,
  });
  const deadline = Date.now() + HANG_MS;
  let directAnswers = 0;
  const accepted = new Set<string>();
  const finished = new Set<string>();
  let failure: Error | undefined;
  const fail = (error: unknown): void => {
    failure ??= error instanceof Error ? error : new Error(String(error));
  };
  const state: { handshake: 'pending' | 'open' | 'refused' } = { handshake: 'pending' };
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') }));
  });
  socket.on('error', () => undefined);
  socket.on('message', (data: Buffer, isBinary) => {
    try {
      expect(isBinary, `${where}: a binary frame from the server`).toBe(false);
      const frame = checkWsFrame(target, where, data.toString('utf8'), secrets);
      tally(`${target.mode} ws frame ${frame.type}`);
      if (['error', 'accepted', 'resumed', 'stopped'].includes(frame.type)) directAnswers += 1;
      if (frame.type === 'accepted' && frame.runId !== undefined) {
        accepted.add(frame.runId);
        wsRunsAccepted[target.mode] += 1;
      }
      if (frame.terminal && frame.runId !== undefined) finished.add(frame.runId);
    } catch (error) {
      fail(error);
    }
  });
  socket.on('upgrade', (response) => {
    try {
      const headerText = Object.entries(response.headers)
        .map(([name, value]) => `${name}: ${String(value)}`)
        .join('\n');
      assertNoLeak(`${where} (101 headers)`, headerText, secrets);
      // A bearer subprotocol is never selected: the server answers `rivulet.v1` or nothing.
      expect([undefined, 'rivulet.v1']).toContain(response.headers['sec-websocket-protocol']);
    } catch (error) {
      fail(error);
    }
  });
  // A refused handshake is an HTTP answer like any other.
  const refusal = new Promise<void>((resolve) => {
    socket.on('unexpected-response', (_request, response) => {
      state.handshake = 'refused';
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        try {
          checkAnswer(
            target,
            where,
            {
              method: 'GET',
              path: '/api/ws',
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: Buffer.concat(chunks),
            },
            secrets,
          );
        } catch (error) {
          fail(error);
        }
        resolve();
      });
    });
  });
  await Promise.race([
    new Promise<void>((resolve) =>
      socket.once('open', () => {
        state.handshake = 'open';
        resolve();
      }),
    ),
    closed.then(() => undefined),
    refusal,
  ]);
  tally(`${target.mode} ws handshake ${state.handshake}`);
  if (state.handshake !== 'open') {
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000))]);
    if (failure !== undefined) throw failure;
    // A client offering protocols of which the server takes none fails the connection itself (by design).
    await assertAlive(target);
    assertNoErrorLogs(target, where);
    return;
  }

  let expectedAnswers = 0;
  let fatal: number | undefined;
  for (const frame of spec.frames) {
    if (socket.readyState !== WebSocket.OPEN) break;
    if (frame.kind === 'text') {
      const text = fill(target, frame.data);
      socket.send(text);
      // Long hostile text (or JSON escapes) can pass 256 KB as UTF-8: that is an oversized message too.
      if (Buffer.byteLength(text, 'utf8') > WS_MAX_PAYLOAD) {
        fatal = 1009;
        break;
      }
      if (!isAuthMessage(text)) expectedAnswers += 1;
    } else if (frame.kind === 'binary') socket.send(frame.data, { binary: true });
    else if (frame.kind === 'badUtf8') socket.send(frame.data, { binary: false });
    else if (frame.kind === 'oversized') socket.send('x'.repeat(frame.size));
    else socket.ping();
    fatal = FATAL_CLOSE[frame.kind];
    if (fatal !== undefined) break;
  }

  // Every message is answered (or the socket closed) and every accepted answer streams to its end.
  const settled = async (): Promise<void> => {
    while (socket.readyState === WebSocket.OPEN) {
      const answered =
        directAnswers >= expectedAnswers && [...accepted].every((runId) => finished.has(runId));
      if (fatal === undefined && answered) return;
      if (Date.now() > deadline)
        throw new Error(
          `${where}: ${directAnswers}/${expectedAnswers} answers, ${finished.size}/${accepted.size} runs ended within ${HANG_MS} ms (hang)`,
        );
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  await settled();
  if (socket.readyState === WebSocket.OPEN) socket.close(1000);
  const close = await Promise.race([
    closed,
    new Promise<never>((_resolve, reject) =>
      setTimeout(() => reject(new Error(`${where}: the socket did not close (hang)`)), HANG_MS),
    ),
  ]);
  tally(`${target.mode} ws close ${close.code}`);
  if (failure !== undefined) throw failure;
  expect(close.code, `${where}: internal error close`).not.toBe(1011);
  // Open mode signs everyone in, so only the first fatal frame (or our own close) ends the socket; where auth is
  // required, a refused sign-in (1008) may come first. A foreign page's socket on an open install is closed 1008
  // before anything it sends is read. A flood that leaves too much unread is closed 1013.
  if (foreignToOpenInstall(target, headers.origin)) {
    expect(close, `${where}: a foreign page's socket`).toEqual({ code: 1008, reason: 'origin not allowed' });
    expect(accepted.size, `${where}: a foreign page started answers`).toBe(0);
  } else {
    const allowed = [fatal ?? 1000, 1013, ...(target.mode === 'required' ? [1008] : [])];
    expect(allowed, `${where}: closed with ${close.code} ${close.reason}`).toContain(close.code);
  }
  await assertAlive(target);
  assertNoErrorLogs(target, where);
}

/** Floods: many messages sent at once on one socket (issue 12, finding 5: 1,099 runs in 20 s over one socket). */
const wsFlood = (tokens: string[]): fc.Arbitrary<WsCase> =>
  fc
    .tuple(wsCase(tokens), fc.array(wsMessage(tokens), { minLength: 40, maxLength: 120 }))
    .map(([spec, messages]) => ({
      ...spec,
      frames: messages.map((data): WsFrame => ({ kind: 'text', data })),
    }));

describe('fuzz: WebSocket /api/ws', () => {
  it(
    'open mode: JSON frames of known types, coded errors, documented close codes, no 1011, no leaks',
    async () => {
      await fc.assert(
        fc.asyncProperty(wsCase([]), (spec) => runWsCase(open, spec)),
        settings(),
      );
      expect(wsRunsAccepted.open).toBeGreaterThan(0);
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'floods of messages on one socket: each answered or refused with a code, the server stays responsive',
    async () => {
      const runs = Math.max(3, Math.ceil(RUNS / 30));
      await fc.assert(
        fc.asyncProperty(wsFlood([]), (spec) => runWsCase(open, spec)),
        { seed: SEED, numRuns: runs },
      );
      await fc.assert(
        fc.asyncProperty(wsFlood(required.tokens), (spec) => runWsCase(required, spec)),
        { seed: SEED, numRuns: runs },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'required-auth mode: the same, with sign-in by header, subprotocol or first message',
    async () => {
      await fc.assert(
        fc.asyncProperty(wsCase(required.tokens), (spec) => runWsCase(required, spec)),
        settings(),
      );
      expect(wsRunsAccepted.required).toBeGreaterThan(0);
    },
    PROPERTY_TIMEOUT_MS,
  );
});
