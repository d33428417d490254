import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tokenChunkText } from './completion-chunk.ts';

/** Any UTF-16 code units: control characters, quotes, backslashes and lone surrogates included. */
const anyText = fc.string({
  unit: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
});

/**
 * What JSON.parse makes of the text when it is a pure token chunk: one choice, whose delta is exactly
 * `{content: <string>}` and finish reason null, no tool calls, usage or error. The fast path must agree with this
 * whenever it answers.
 */
function tokenViaJsonParse(text: string): string | undefined {
  let chunk: unknown;
  try {
    chunk = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof chunk !== 'object' || chunk === null || Array.isArray(chunk)) return undefined;
  const record = chunk as Record<string, unknown>;
  if ((record.usage ?? null) !== null || (record.error ?? null) !== null) return undefined;
  const choices = record.choices;
  if (!Array.isArray(choices) || choices.length !== 1) return undefined;
  const choice = choices[0] as Record<string, unknown>;
  if (typeof choice !== 'object' || choice === null) return undefined;
  if (Object.keys(choice).some((key) => !['index', 'delta', 'finish_reason', 'logprobs'].includes(key))) {
    return undefined;
  }
  if (choice.finish_reason !== null || (choice.logprobs ?? null) !== null) return undefined;
  const delta = choice.delta as Record<string, unknown> | undefined;
  if (typeof delta !== 'object' || delta === null || Object.keys(delta).length !== 1) return undefined;
  return typeof delta.content === 'string' ? delta.content : undefined;
}

/** Member values as providers write them: ids, model names, fingerprints, no escapes. */
const plainText = fc.string({ unit: fc.constantFrom(...'abcXYZ019-_ .:/é☕') });

const tokenChunk = (content: string): string =>
  `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1733400000,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}]}`;

/** Token chunks in the compact shapes OpenAI, Azure, vLLM, llama.cpp and the fake upstream send, members in any order. */
const compactTokenChunk = fc
  .tuple(
    fc.record(
      {
        id: plainText,
        object: fc.constant('chat.completion.chunk'),
        created: fc.integer(),
        model: plainText,
        system_fingerprint: fc.oneof(plainText, fc.constant(null)),
        service_tier: fc.constant('default'),
        usage: fc.constant(null),
        obfuscation: plainText,
      },
      { requiredKeys: [] },
    ),
    fc.oneof(anyText, fc.string({ unit: 'binary' })),
    fc.nat(9),
    fc.constantFrom('none', 'before', 'after'),
    fc.nat(),
  )
  .map(([members, content, index, logprobs, at]) => {
    const choice =
      logprobs === 'before'
        ? { index, delta: { content }, logprobs: null, finish_reason: null }
        : logprobs === 'after'
          ? { index, delta: { content }, finish_reason: null, logprobs: null }
          : { index, delta: { content }, finish_reason: null };
    const entries: [string, unknown][] = Object.entries(members);
    entries.splice(at % (entries.length + 1), 0, ['choices', [choice]]);
    return { text: JSON.stringify(Object.fromEntries(entries)), content };
  });

/** Other chunks and near misses: usage, errors, tool calls, finish reasons, several choices, odd values. */
const otherChunk = fc
  .tuple(
    fc.dictionary(
      fc.constantFrom('id', 'model', 'usage', 'error', 'created', '__proto__', 'choices'),
      fc.oneof(
        anyText,
        fc.integer(),
        fc.double(),
        fc.constant(null),
        fc.boolean(),
        fc.constant({ prompt_tokens: 3 }),
      ),
      { maxKeys: 4 },
    ),
    fc.oneof(
      // A token's choice beside odd members (a string error, a number usage) must still take JSON.parse.
      anyText.map((content) => [{ index: 0, delta: { content }, finish_reason: null }]),
      fc.array(
        fc.record(
          {
            index: fc.oneof(fc.nat(), fc.double()),
            delta: fc.oneof(
              fc.record({ content: fc.oneof(anyText, fc.constant(null)) }),
              fc.record({ role: fc.constant('assistant'), content: anyText }),
              fc.record({ content: anyText, tool_calls: fc.constant([{ index: 0 }]) }),
              fc.constant({}),
            ),
            finish_reason: fc.oneof(fc.constant(null), fc.constantFrom('stop', 'tool_calls'), fc.integer()),
            logprobs: fc.oneof(fc.constant(null), fc.constant({ content: [] })),
          },
          { requiredKeys: [] },
        ),
        { maxLength: 2 },
      ),
    ),
  )
  .map(([members, choices]) => JSON.stringify({ ...members, choices }));

/** A chunk's text compact or spaced, whole or with one character cut or changed. */
const chunkText = fc
  .tuple(
    fc.oneof(
      compactTokenChunk.map((chunk) => chunk.text),
      otherChunk,
      fc.jsonValue().map((value) => JSON.stringify(value)),
    ),
    fc.constantFrom('compact', 'spaced', 'cut', 'changed', 'changed'),
    fc.nat(),
    fc.nat(),
  )
  .map(([text, how, at, pick]) => {
    const index = at % (text.length + 1);
    switch (how) {
      case 'compact':
        return text;
      case 'spaced':
        return JSON.stringify(JSON.parse(text), null, 1);
      case 'cut':
        return text.slice(0, index);
      case 'changed':
        return text.slice(0, index) + '"\\x}]{[,:0-e.n\u0001 '.charAt(pick % 17) + text.slice(index + 1);
    }
  });

describe('tokenChunkText', () => {
  it('answers only for pure token chunks, with the text JSON.parse finds, on any chunk text', () => {
    fc.assert(
      fc.property(chunkText, (text) => {
        const token = tokenChunkText(text);
        if (token !== undefined) expect(tokenViaJsonParse(text)).toBe(token);
      }),
      { numRuns: 10_000 },
    );
  });

  it('reads every compact token chunk, whatever its members and text', () => {
    fc.assert(
      fc.property(compactTokenChunk, ({ text, content }) => {
        expect(tokenChunkText(text)).toBe(content);
      }),
      { numRuns: 5_000 },
    );
  });

  it('decodes escapes in the text', () => {
    for (const content of ['Hello', ' rivers', 'a "quoted"\nline\\', 'café ☕ 😀', '', '\u2028', '\ud800']) {
      expect(tokenChunkText(tokenChunk(content))).toBe(content);
    }
    expect(tokenChunkText(tokenChunk('x').replace('"x"', '"\\u00e9\\/"'))).toBe('é/');
  });

  it('leaves the role chunk, finish reason, usage, errors, tool calls and several choices to JSON.parse', () => {
    for (const text of [
      '{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}',
      '{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
      '{"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}',
      '{"id":"c","usage":3,"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}',
      '{"error":"overloaded","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}',
      '{"error":{"message":"overloaded","code":529}}',
      '{"choices":[{"index":0,"delta":{"content":"a","tool_calls":[{"index":0}]},"finish_reason":null}]}',
      '{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null},{"index":1,"delta":{"content":"b"},"finish_reason":null}]}',
      '{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}],"choices":[]}',
      '{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}],"choices":null}',
      '{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}],"usage":{}}',
      '{"choices":[{"index":0,"delta":{"content":"a\\q"},"finish_reason":null}]}',
      '{"created":1.5,"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}',
      '{ "choices": [{"index":0,"delta":{"content":"a"},"finish_reason":null}]}',
      `${tokenChunk('a')} `,
    ]) {
      expect(tokenChunkText(text)).toBeUndefined();
    }
  });

  it('reads a token of megabytes, escapes and all, and leaves a megabyte of other members to JSON.parse', () => {
    const long = 'río "x"\n'.repeat(200_000);
    expect(tokenChunkText(tokenChunk(long))).toBe(long);
    const padded = `{"id":"${'a'.repeat(2_000_000)}","choices":[{"index":0,"delta":{"content":"b"},"finish_reason":null}]}`;
    expect(tokenChunkText(padded)).toBe('b');
    const nested = `{"id":${'['.repeat(100_000)}${']'.repeat(100_000)},"choices":[]}`;
    expect(tokenChunkText(nested)).toBeUndefined();
  });
});
