// Tool calling in every provider family, over real HTTP against the fake upstream speaking each format: streamed
// calls yield their parts in order, several calls, malformed arguments, a two-step turn with results sent back,
// the non-streaming path, and faults in the middle of a call.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type {
  ChatMessage,
  GenerateRequest,
  LanguageModel,
  StreamPart,
  ToolCallRequest,
} from '../../src/core/provider.ts';
import { AnthropicModel } from '../../src/providers/anthropic/anthropic-model.ts';
import { OllamaModel } from '../../src/providers/ollama/ollama-model.ts';
import { openAICompatibleEndpoint } from '../../src/providers/openai/chat-completions-endpoints.ts';
import { ChatCompletionsModel } from '../../src/providers/openai/chat-completions.ts';
import {
  startFakeAnthropic,
  startFakeOllama,
  startFakeUpstream,
  type FakeToolCall,
  type FakeUpstream,
} from '../fakes/fake-upstream.ts';
import { failureOf, streamAll } from '../fakes/language-model-probe.ts';

interface Family {
  name: string;
  start: () => Promise<FakeUpstream>;
  model: (upstream: FakeUpstream) => LanguageModel;
  /** Whether the format streams a call's arguments in pieces (Ollama sends each call whole). */
  piecewise: boolean;
  /** Whether the format carries call ids (Ollama's results are matched by tool name). */
  ids: boolean;
}

const FAMILIES: Family[] = [
  {
    name: 'OpenAI Chat Completions',
    start: () => startFakeUpstream(),
    model: (upstream) =>
      new ChatCompletionsModel(
        openAICompatibleEndpoint({ baseUrl: upstream.url, model: 'fake-model', stallMs: 5_000 }),
      ),
    piecewise: true,
    ids: true,
  },
  {
    name: 'Anthropic Messages',
    start: () => startFakeAnthropic(),
    model: (upstream) =>
      new AnthropicModel({ apiKey: 'k', baseUrl: upstream.url, model: 'claude-fake', stallMs: 5_000 }),
    piecewise: true,
    ids: true,
  },
  {
    name: 'Ollama /api/chat',
    start: () => startFakeOllama(),
    model: (upstream) => new OllamaModel({ host: upstream.url, model: 'llama3.2', stallMs: 5_000 }),
    piecewise: false,
    ids: false,
  },
];

const SEARCH = {
  name: 'search_documents',
  description: 'Search the documents',
  inputSchema: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
};
const FETCH = { name: 'fetch_page', description: 'Fetch a page', inputSchema: { type: 'object' } };
const ASK: GenerateRequest = {
  messages: [
    { role: 'system', content: 'Answer from the documents.' },
    { role: 'user', content: 'What is the refund policy?' },
  ],
  tools: [SEARCH, FETCH],
};
const SEARCH_CALL: FakeToolCall = {
  name: 'search_documents',
  arguments: { query: 'refund policy', limit: 5 },
};
const FETCH_CALL: FakeToolCall = { name: 'fetch_page', arguments: { url: 'https://example.com/refunds' } };

const ofType = <T extends StreamPart['type']>(parts: readonly StreamPart[], type: T) =>
  parts.filter((part): part is Extract<StreamPart, { type: T }> => part.type === type);

/** Each call's input deltas joined, by call id. */
function inputsById(parts: readonly StreamPart[]): Map<string, string> {
  const inputs = new Map<string, string>();
  for (const part of ofType(parts, 'tool-input-delta')) {
    inputs.set(part.toolCallId, (inputs.get(part.toolCallId) ?? '') + part.delta);
  }
  return inputs;
}

const callsOf = (parts: readonly StreamPart[]): ToolCallRequest[] =>
  ofType(parts, 'tool-call').map(({ toolCallId, name, inputText }) => ({ toolCallId, name, inputText }));

describe.each(FAMILIES)('$name', (family) => {
  let upstream: FakeUpstream;
  let model: LanguageModel;
  beforeAll(async () => {
    upstream = await family.start();
    model = family.model(upstream);
  });
  afterAll(async () => {
    await model.close?.();
    await upstream.close();
  });
  beforeEach(() => upstream.reset());

  it('sends the tools in its format and streams a call: text, start, input pieces, the whole call, then finish', async () => {
    upstream.setScenario({ tokens: ['Let me ', 'search.'], toolCalls: [SEARCH_CALL], argumentChunkChars: 6 });
    const { parts, text } = await streamAll(model, ASK);
    expect(text).toBe('Let me search.');
    const kinds = parts.map((part) => part.type).filter((type) => type !== 'usage');
    const firstStart = kinds.indexOf('tool-input-start');
    expect(kinds.slice(0, firstStart)).toEqual(['text-delta', 'text-delta']);
    expect(kinds.slice(-2)).toEqual(['tool-call', 'finish']);
    expect(kinds.slice(firstStart + 1, -2).every((type) => type === 'tool-input-delta')).toBe(true);
    const deltas = ofType(parts, 'tool-input-delta');
    // Split across chunks where the format streams pieces; Ollama sends the arguments whole.
    if (family.piecewise) expect(deltas.length).toBeGreaterThan(3);
    else expect(deltas).toHaveLength(1);
    const [start] = ofType(parts, 'tool-input-start');
    const [call] = callsOf(parts);
    expect(start).toEqual({
      type: 'tool-input-start',
      toolCallId: call?.toolCallId,
      name: 'search_documents',
    });
    expect(JSON.parse(call!.inputText)).toEqual(SEARCH_CALL.arguments);
    expect(inputsById(parts).get(call!.toolCallId)).toBe(call!.inputText);
    expect(ofType(parts, 'finish')).toEqual([{ type: 'finish', finishReason: 'tool-calls' }]);
    expect(upstream.requests[0]?.toolTurns?.tools).toEqual(['search_documents', 'fetch_page']);
  });

  it('sends no tools when the request has none', async () => {
    upstream.setScenario({ tokens: ['Hello.'] });
    await streamAll(model, { messages: ASK.messages });
    const body = upstream.requests[0]?.body as Record<string, unknown>;
    expect(body).not.toHaveProperty('tools');
  });

  it('streams several calls of one turn, each with its own id, in order', async () => {
    upstream.setScenario({ toolCalls: [SEARCH_CALL, FETCH_CALL], argumentChunkChars: 4 });
    const { parts, text } = await streamAll(model, ASK);
    expect(text).toBe('');
    const calls = callsOf(parts);
    expect(calls.map((call) => call.name)).toEqual(['search_documents', 'fetch_page']);
    expect(new Set(calls.map((call) => call.toolCallId)).size).toBe(2);
    expect(calls.map((call) => JSON.parse(call.inputText) as unknown)).toEqual([
      SEARCH_CALL.arguments,
      FETCH_CALL.arguments,
    ]);
    const inputs = inputsById(parts);
    for (const call of calls) expect(inputs.get(call.toolCallId)).toBe(call.inputText);
    expect(ofType(parts, 'tool-input-start').map((part) => part.toolCallId)).toEqual(
      calls.map((call) => call.toolCallId),
    );
    expect(ofType(parts, 'finish')).toEqual([{ type: 'finish', finishReason: 'tool-calls' }]);
  });

  it('passes malformed arguments through as the input text, for the agent loop to report', async () => {
    const malformed = '{"query": "refund policy", "limit": ';
    upstream.setScenario({
      toolCalls: [{ name: 'search_documents', arguments: malformed }],
      argumentChunkChars: 5,
    });
    const { parts } = await streamAll(model, ASK);
    expect(callsOf(parts)).toEqual([
      { toolCallId: expect.any(String) as string, name: 'search_documents', inputText: malformed },
    ]);
    expect(ofType(parts, 'finish')).toEqual([{ type: 'finish', finishReason: 'tool-calls' }]);
  });

  it('a two-step turn: the call, then the results sent back in its format, then the answer in text', async () => {
    upstream.setScenario({
      steps: [{ toolCalls: [SEARCH_CALL, FETCH_CALL] }, { tokens: ['Refunds ', 'take 14 days [1].'] }],
    });
    const first = await streamAll(model, ASK);
    const calls = callsOf(first.parts);
    expect(calls).toHaveLength(2);
    const history: ChatMessage[] = [
      ...ASK.messages,
      { role: 'assistant', content: '', toolCalls: calls },
      {
        role: 'tool',
        toolCallId: calls[0]!.toolCallId,
        name: calls[0]!.name,
        content: '{"results":["[1] 14 days"]}',
      },
      {
        role: 'tool',
        toolCallId: calls[1]!.toolCallId,
        name: calls[1]!.name,
        content: 'TOOL_TIMEOUT: fetch_page did not answer',
        isError: true,
      },
    ];
    const second = await streamAll(model, { ...ASK, messages: history });
    expect(second.text).toBe('Refunds take 14 days [1].');
    expect(ofType(second.parts, 'finish')).toEqual([{ type: 'finish', finishReason: 'stop' }]);
    expect(callsOf(second.parts)).toEqual([]);

    const turns = upstream.requests[1]?.toolTurns;
    expect(turns?.callTurns).toBe(1);
    expect(turns?.calls.map((call) => [call.name, JSON.parse(call.inputText) as unknown])).toEqual([
      ['search_documents', SEARCH_CALL.arguments],
      ['fetch_page', FETCH_CALL.arguments],
    ]);
    expect(turns?.results.map((result) => result.content)).toEqual([
      '{"results":["[1] 14 days"]}',
      'TOOL_TIMEOUT: fetch_page did not answer',
    ]);
    if (family.ids) {
      expect(turns?.results.map((result) => result.toolCallId)).toEqual(calls.map((call) => call.toolCallId));
      expect(turns?.calls.map((call) => call.toolCallId)).toEqual(calls.map((call) => call.toolCallId));
    } else {
      expect(turns?.results.map((result) => result.name)).toEqual(['search_documents', 'fetch_page']);
    }
    if (family.name.startsWith('Anthropic')) {
      // Both results in one user turn right after the assistant's tool_use turn, the failed one flagged.
      const messages = (upstream.requests[1]?.body as { messages: { role: string; content: unknown }[] })
        .messages;
      expect(messages.map((message) => message.role)).toEqual(['user', 'assistant', 'user']);
      expect(turns?.results.map((result) => result.isError ?? false)).toEqual([false, true]);
    }
  });

  it('generate() without streaming returns the calls and the tool-calls finish reason', async () => {
    upstream.setScenario({ tokens: ['Searching.'], toolCalls: [SEARCH_CALL, FETCH_CALL] });
    const result = await model.generate(ASK, { signal: new AbortController().signal });
    expect(result.text).toBe('Searching.');
    expect(result.finishReason).toBe('tool-calls');
    expect(result.toolCalls?.map((call) => [call.name, JSON.parse(call.inputText) as unknown])).toEqual([
      ['search_documents', SEARCH_CALL.arguments],
      ['fetch_page', FETCH_CALL.arguments],
    ]);
    expect(new Set(result.toolCalls?.map((call) => call.toolCallId)).size).toBe(2);
  });

  it('a connection dropped in the middle of a call fails with UPSTREAM_DROPPED and never completes the call', async () => {
    // Tool chunks count after the tokens: the drop comes after the call began (Ollama: after its line, before done).
    upstream.setScenario({
      toolCalls: [SEARCH_CALL],
      argumentChunkChars: 4,
      dropAfter: family.piecewise ? 3 : 1,
    });
    const parts: StreamPart[] = [];
    const error = await failureOf(
      model.stream(ASK, { signal: new AbortController().signal, onPart: (part) => parts.push(part) }),
    );
    expect(error.code).toBe('UPSTREAM_DROPPED');
    expect(ofType(parts, 'tool-input-start')).toHaveLength(1);
    expect(ofType(parts, 'tool-call')).toEqual([]);
    expect(ofType(parts, 'finish')).toEqual([]);
  });

  it('aborting in the middle of a call closes the upstream request', async () => {
    // The upstream stalls after the call began, so only the abort can end the request.
    upstream.setScenario({
      toolCalls: [SEARCH_CALL],
      argumentChunkChars: 4,
      stallAfter: family.piecewise ? 3 : 1,
    });
    const controller = new AbortController();
    const parts: StreamPart[] = [];
    const outcome = await model
      .stream(ASK, {
        signal: controller.signal,
        onPart: (part) => {
          parts.push(part);
          if (part.type === 'tool-input-delta') controller.abort(new Error('user stopped'));
        },
      })
      .then(
        () => 'resolved',
        (error: unknown) => (error instanceof Error ? error.message : 'rejected'),
      );
    expect(outcome).toBe('user stopped');
    const log = await upstream.waitForClose(1);
    expect(log.closedBy).toBe('client');
    expect(log.completed).toBe(false);
    expect(ofType(parts, 'tool-call')).toEqual([]);
  });
});
