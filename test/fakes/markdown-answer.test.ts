// The fake upstream's demo mode (a Markdown answer citing the prompt's numbered sources) and its max-tokens limit,
// over real TCP through Rivulet's own adapters for OpenAI-compatible servers, Anthropic and Ollama; and the
// environment knobs of `npm run fake-upstream`.

import { afterEach, describe, expect, it } from 'vitest';
import { buildCondenseMessages, buildGroundedMessages } from '../../src/core/prompt.ts';
import type { ChatMessage, GenerateRequest, LanguageModel } from '../../src/core/provider.ts';
import type { Passage } from '../../src/core/retriever.ts';
import { AnthropicModel } from '../../src/providers/anthropic/anthropic-model.ts';
import { openAICompatibleEndpoint } from '../../src/providers/openai/chat-completions-endpoints.ts';
import { ChatCompletionsModel } from '../../src/providers/openai/chat-completions.ts';
import { OllamaModel } from '../../src/providers/ollama/ollama-model.ts';
import {
  startFakeAnthropic,
  startFakeOllama,
  startFakeUpstream,
  type FakeUpstream,
} from './fake-upstream.ts';
import { streamAll } from './language-model-probe.ts';
import { markdownAnswerText, parsePromptSources, systemPromptOf, tokenize } from './markdown-answer.ts';
import { KNOBS, scenarioFromEnv } from './serve-fake-upstream.ts';

function passage(id: number, title: string, text: string): Passage {
  return {
    chunkId: `c${id}`,
    documentId: `d${id}`,
    documentTitle: title,
    source: `${id}.md`,
    heading: '',
    text,
    contentHash: 'h',
    score: 1,
  };
}

const PASSAGES = [
  passage(
    1,
    'Streaming and resume',
    'Reconnect with GET /api/runs/<runId>/events and the last event id you received.',
  ),
  // A passage that itself holds a line starting with "[2]" after a blank line must not count as a source.
  passage(2, 'Stopping an answer', 'POST /api/runs/<runId>/stop stops a run.\n\n[2] is not a source here.'),
  passage(3, 'Limits', 'A run longer than RUN_MAX_DURATION_MS ends with RUN_TIMEOUT.'),
];

function grounded(question: string, passages: readonly Passage[]): ChatMessage[] {
  return buildGroundedMessages({ systemPrompt: undefined, history: [], question, passages, glossary: [] });
}

/** The distinct [n] citations of a text, ascending. */
function citations(text: string): number[] {
  return [...new Set([...text.matchAll(/\[(\d+)\]/gu)].map((match) => Number(match[1])))].sort(
    (a, b) => a - b,
  );
}

describe('the markdown answer', () => {
  it('reads the numbered sources back from the prompt Rivulet builds', () => {
    const system = systemPromptOf({ messages: grounded('How do I resume?', PASSAGES) });
    expect(parsePromptSources(system)).toEqual([
      { number: 1, title: 'Streaming and resume', text: PASSAGES[0]!.text },
      { number: 2, title: 'Stopping an answer', text: PASSAGES[1]!.text },
      { number: 3, title: 'Limits', text: PASSAGES[2]!.text },
    ]);
    expect(parsePromptSources(systemPromptOf({ messages: grounded('Anything?', []) }))).toEqual([]);
    // Anthropic carries the system prompt at the top level.
    expect(parsePromptSources(systemPromptOf({ system: grounded('x', PASSAGES)[0]!.content }))).toHaveLength(
      3,
    );
  });

  it('has headings, a list, a table and a code block, and cites exactly the sources it was given', () => {
    const text = markdownAnswerText({ messages: grounded('How do I resume an answer?', PASSAGES) });
    expect(text).toMatch(/^## Short answer$/m);
    expect(text).toMatch(/^- \*\*Streaming and resume\*\*: Reconnect with GET/m);
    expect(text).toMatch(/^\| --- \| --- \| --- \|$/m);
    expect(text).toMatch(/^\| \[3\] \| Limits \|/m);
    expect(text).toMatch(/^```sh\n[\s\S]*"message":"How do I resume an answer\?"[\s\S]*\n```$/m);
    expect(citations(text)).toEqual([1, 2, 3]);
    const one = markdownAnswerText({ messages: grounded('What ends a run?', PASSAGES.slice(2)) });
    expect(citations(one)).toEqual([1]);
  });

  it('is long enough to watch, stop and resume (300+ tokens even with one source), in tokens that rejoin exactly', () => {
    const one = markdownAnswerText({ messages: grounded('What ends a run?', PASSAGES.slice(2)) });
    const tokens = tokenize(one);
    expect(tokens.length).toBeGreaterThanOrEqual(300);
    expect(tokens.join('')).toBe(one);
    expect(tokenize('a  b\n\n- c |x|  \n')).toEqual([
      'a',
      '  b',
      '\n\n',
      '-',
      ' c',
      ' |',
      'x',
      '|',
      '  ',
      '\n',
    ]);
  });

  it('cites nothing when no passage matched, and says so', () => {
    const text = markdownAnswerText({ messages: grounded('Who won the 1998 World Cup?', []) });
    expect(text).toContain('No passage in the knowledge base matches "Who won the 1998 World Cup?"');
    expect(citations(text)).toEqual([]);
    expect(tokenize(text).length).toBeGreaterThanOrEqual(300);
  });

  it('answers a condense request with a short standalone question, not an essay', () => {
    const history: ChatMessage[] = [
      { role: 'user', content: 'How do I resume an answer?' },
      { role: 'assistant', content: 'Reconnect with the last event id [1].' },
    ];
    const text = markdownAnswerText({ messages: buildCondenseMessages(history, 'And on a WebSocket?') });
    expect(text).toBe('And on a WebSocket (about: How do I resume an answer)?');
    expect(markdownAnswerText({ messages: buildCondenseMessages([], 'Hi?') })).toBe('Hi?');
  });
});

const upstreams: FakeUpstream[] = [];
const models: (LanguageModel & { close(): Promise<void> })[] = [];
afterEach(async () => {
  await Promise.all(models.splice(0).map((model) => model.close()));
  await Promise.all(upstreams.splice(0).map((upstream) => upstream.close()));
});

async function track(starting: Promise<FakeUpstream>): Promise<FakeUpstream> {
  const upstream = await starting;
  upstreams.push(upstream);
  return upstream;
}

function keep<T extends LanguageModel & { close(): Promise<void> }>(model: T): T {
  models.push(model);
  return model;
}

/** One adapter per wire format, each against its own fake in markdown mode. */
const FORMATS = {
  openai: async () => {
    const upstream = await track(startFakeUpstream({ scenario: { answer: 'markdown' } }));
    const model = new ChatCompletionsModel(
      openAICompatibleEndpoint({ baseUrl: upstream.url, model: 'fake', stallMs: 2000 }),
    );
    return { upstream, model: keep(model) };
  },
  anthropic: async () => {
    const upstream = await track(startFakeAnthropic({ scenario: { answer: 'markdown' } }));
    const model = new AnthropicModel({
      apiKey: 'k',
      model: 'claude-test',
      stallMs: 2000,
      baseUrl: upstream.url,
    });
    return { upstream, model: keep(model) };
  },
  ollama: async () => {
    const upstream = await track(startFakeOllama({ scenario: { answer: 'markdown' } }));
    const model = new OllamaModel({ host: upstream.url, model: 'llama3.2', stallMs: 2000 });
    return { upstream, model: keep(model) };
  },
};

describe.each(Object.keys(FORMATS) as (keyof typeof FORMATS)[])('the fake in markdown mode (%s)', (name) => {
  const request: GenerateRequest = { messages: grounded('How do I resume an answer?', PASSAGES) };

  it('streams the markdown answer for the prompt it received, and gives the same text without streaming', async () => {
    const { upstream, model } = await FORMATS[name]();
    const { text, parts } = await streamAll(model, request);
    expect(text).toBe(markdownAnswerText(upstream.requests[0]!.body as Record<string, unknown>));
    expect(citations(text)).toEqual([1, 2, 3]);
    expect(parts).toContainEqual({ type: 'finish', finishReason: 'stop' });
    expect(upstream.requests[0]?.tokensSent).toBeGreaterThanOrEqual(300);
    const whole = await model.generate(request, { signal: new AbortController().signal });
    expect(whole).toMatchObject({ text, finishReason: 'stop' });
  });

  it('honours the max tokens of the request, streaming or not, and reports the length finish', async () => {
    const { upstream, model } = await FORMATS[name]();
    const limited = { ...request, maxTokens: 7 };
    const { text, parts } = await streamAll(model, limited);
    expect(limitOf(upstream, 0)).toBe(7);
    expect(upstream.requests[0]).toMatchObject({
      tokensSent: 7,
      maxTokens: 7,
      truncated: true,
      completed: true,
    });
    expect(text).toBe(
      tokenize(markdownAnswerText(upstream.requests[0]!.body as Record<string, unknown>))
        .slice(0, 7)
        .join(''),
    );
    expect(parts).toContainEqual({ type: 'finish', finishReason: 'length' });

    const whole = await model.generate(limited, { signal: new AbortController().signal });
    expect(limitOf(upstream, 1)).toBe(7);
    expect(whole).toMatchObject({ text, finishReason: 'length' });
    expect(whole.usage?.outputTokens).toBe(7);
  });

  /** The max tokens request `index` carried, in its format's field. */
  function limitOf(upstream: FakeUpstream, index: number): number | undefined {
    const body = upstream.requests[index]?.body as
      { max_tokens?: number; options?: { num_predict?: number } } | undefined;
    return name === 'ollama' ? body?.options?.num_predict : body?.max_tokens;
  }
});

describe('max tokens in token mode', () => {
  it('cuts a generated answer at max_tokens (or max_completion_tokens) and keeps it whole under the limit', async () => {
    const upstream = await track(startFakeUpstream({ scenario: { tokenCount: 30, seed: 2 } }));
    const post = (extra: Record<string, unknown>) =>
      fetch(`${upstream.url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra }),
      }).then(
        (response) =>
          response.json() as Promise<{
            choices: { message: { content: string }; finish_reason: string }[];
            usage: { completion_tokens: number };
          }>,
      );
    const full = upstream.fullText();
    const cut = await post({ max_tokens: 4 });
    expect(cut.choices[0]?.finish_reason).toBe('length');
    expect(cut.usage.completion_tokens).toBe(4);
    expect(full.startsWith(cut.choices[0]!.message.content)).toBe(true);
    expect((await post({ max_completion_tokens: 5 })).usage.completion_tokens).toBe(5);
    const whole = await post({ max_tokens: 30 });
    expect(whole.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: full } });
  });
});

describe('npm run fake-upstream', () => {
  it('defaults to the markdown answer at a visible pace; FAKE_ANSWER=tokens keeps the old generated tokens', () => {
    expect(scenarioFromEnv({})).toEqual({ answer: 'markdown', ttftMs: 300, interTokenMs: 30 });
    expect(scenarioFromEnv({ FAKE_INTER_TOKEN_MS: '5', FAKE_TTFT_MS: '0' })).toEqual({
      answer: 'markdown',
      ttftMs: 0,
      interTokenMs: 5,
    });
    expect(scenarioFromEnv({ FAKE_ANSWER: 'tokens', FAKE_TOKENS: '40', FAKE_SEED: '3' })).toEqual({
      answer: 'tokens',
      tokenCount: 40,
      seed: 3,
    });
    expect(
      scenarioFromEnv({
        FAKE_ANSWER: 'tokens',
        FAKE_STREAM_ERROR_AFTER: '2',
        FAKE_STREAM_ERROR_STATUS: '529',
        FAKE_ERROR_STATUS: '429',
        FAKE_RETRY_AFTER_S: '1',
        FAKE_FINISH_REASON: 'length',
        FAKE_SPLIT_MULTIBYTE: '1',
      }),
    ).toEqual({
      answer: 'tokens',
      streamErrorAfter: 2,
      streamErrorStatus: 529,
      errorStatus: 429,
      retryAfterSeconds: 1,
      finishReason: 'length',
      splitMultibyte: true,
    });
    expect(() => scenarioFromEnv({ FAKE_ANSWER: 'poetry' })).toThrow(
      /FAKE_ANSWER must be markdown or tokens/,
    );
    expect(() => scenarioFromEnv({ FAKE_TOKENS: 'many' })).toThrow(
      /FAKE_TOKENS must be a non-negative integer/,
    );
  });

  it('documents every knob it reads', async () => {
    const { readFile } = await import('node:fs/promises');
    const source = await readFile(new URL('./serve-fake-upstream.ts', import.meta.url), 'utf8');
    const docs = await readFile(new URL('../../docs/demo.md', import.meta.url), 'utf8');
    const read = [...new Set([...source.matchAll(/'(FAKE_[A-Z_]+)'/gu)].map((match) => match[1]!))];
    expect(read.length).toBeGreaterThan(15);
    for (const knob of read) {
      expect(KNOBS, knob).toContain(knob);
      expect(docs, knob).toContain(`\`${knob}\``);
    }
  });
});
