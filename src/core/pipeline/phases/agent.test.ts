import { describe, expect, it } from 'vitest';
import { fakeRetriever, passage, testContext } from '../../../../test/fakes/pipeline-context.ts';
import type { GenerateRequest, LanguageModel, StreamPart } from '../../provider.ts';
import type { AgentSetup, ToolOutcome, ToolSet } from '../context.ts';
import { SEARCH_DOCUMENTS } from '../search-tool.ts';
import { agentPhase } from './agent.ts';

/** A model that answers each step with the next script, recording the requests it was sent. */
function steppedModel(steps: StreamPart[][]): LanguageModel & { requests: GenerateRequest[] } {
  const requests: GenerateRequest[] = [];
  return {
    provider: 'fake',
    model: 'fake-model',
    requests,
    stream: (request, options) => {
      requests.push(structuredClone({ ...request, passages: [] }));
      const parts = steps[requests.length - 1] ?? [{ type: 'text-delta', text: 'out of script' }];
      for (const part of parts) {
        options.signal.throwIfAborted();
        options.onPart(part);
      }
      return Promise.resolve();
    },
    generate: () => Promise.reject(new Error('not used')),
  };
}

function toolCall(id: string, name: string, inputText: string): StreamPart[] {
  const half = Math.floor(inputText.length / 2);
  return [
    { type: 'tool-input-start', toolCallId: id, name },
    { type: 'tool-input-delta', toolCallId: id, delta: inputText.slice(0, half) },
    { type: 'tool-input-delta', toolCallId: id, delta: inputText.slice(half) },
    { type: 'tool-call', toolCallId: id, name, inputText },
  ];
}

const usage = (input: number, output: number): StreamPart => ({
  type: 'usage',
  usage: { inputTokens: input, outputTokens: output },
});

function tools(results: Record<string, ToolOutcome>, seen: { name: string; input: unknown }[] = []): ToolSet {
  return {
    list: () =>
      Promise.resolve(
        Object.keys(results).map((name) => ({ name, description: name, inputSchema: { type: 'object' } })),
      ),
    call: (name, input) => {
      seen.push({ name, input });
      return Promise.resolve(results[name] ?? { ok: false, code: 'TOOL_NOT_FOUND', message: 'no' });
    },
  };
}

const searching: AgentSetup = { searchDocuments: true, maxSteps: 5 };

describe('agent loop', () => {
  it('streams a two-step answer: the tool input as written, the call, its result, then the answer', async () => {
    const model = steppedModel([
      [
        ...toolCall('call_1', SEARCH_DOCUMENTS, '{"query":"alpha"}'),
        usage(10, 5),
        { type: 'finish', finishReason: 'tool-calls' },
      ],
      [
        { type: 'text-delta', text: 'Alpha is first [1].' },
        usage(30, 6),
        { type: 'finish', finishReason: 'stop' },
      ],
    ]);
    const context = testContext({
      deps: { model, retriever: fakeRetriever([passage('a', 'alpha is the first letter')]) },
    });
    const steps = await agentPhase(context, searching, [{ role: 'user', content: 'What is alpha?' }], []);

    expect(context.run.events.map((event) => event.type)).toEqual([
      'step',
      'phase',
      'tool-input-start',
      'tool-input-delta',
      'tool-input-delta',
      'tool-call',
      'phase',
      'sources',
      'tool-result',
      'step',
      'step',
      'phase',
      'token',
      'phase',
      'step',
      'usage',
    ]);
    expect(context.run.events).toContainEqual({
      type: 'tool-call',
      toolCallId: 'call_1',
      name: SEARCH_DOCUMENTS,
      input: { query: 'alpha' },
      step: 1,
    });
    // The search's passages are the answer's numbered sources, as plain RAG numbers them.
    expect(context.recorder.sources.map((source) => [source.id, source.documentId])).toEqual([
      ['1', 'doc_a'],
    ]);
    // The second step reads the call and its result.
    const second = model.requests[1]?.messages ?? [];
    expect(second.at(-2)).toMatchObject({ role: 'assistant', toolCalls: [{ toolCallId: 'call_1' }] });
    expect(second.at(-1)).toMatchObject({ role: 'tool', toolCallId: 'call_1' });
    expect(second.at(-1)?.content).toContain('[1] Document a > Heading\nalpha is the first letter');
    expect(model.requests[0]?.tools?.map((tool) => tool.name)).toEqual([SEARCH_DOCUMENTS]);
    // Usage adds up over the steps; the held ending carries the whole text.
    expect(context.recorder.usage).toEqual({ inputTokens: 40, outputTokens: 11 });
    expect(context.recorder.ending).toMatchObject({ finishReason: 'stop', text: 'Alpha is first [1].' });
    expect(steps.map((step) => [step.step, step.finishReason, step.toolCalls.length])).toEqual([
      [1, 'tool-calls', 1],
      [2, 'stop', 0],
    ]);
    expect(context.recorder.phases.generate).toBeTypeOf('number');
  });

  it('runs several calls of one step together and gives each its own result, errors included', async () => {
    const seen: { name: string; input: unknown }[] = [];
    const set = tools({ weather: { ok: true, output: { c: 21 }, text: '21 C' } }, seen);
    const model = steppedModel([
      [
        ...toolCall('a', 'weather', '{"city":"Oslo"}'),
        ...toolCall('b', 'weather', '{"city":'),
        ...toolCall('c', 'unknown_tool', '{}'),
        { type: 'finish', finishReason: 'tool-calls' },
      ],
      [{ type: 'text-delta', text: 'Done.' }],
    ]);
    const context = testContext({ deps: { model } });
    await agentPhase(context, { searchDocuments: false, maxSteps: 3, tools: set }, [], []);

    const results = context.run.events.filter((event) => event.type === 'tool-result');
    expect(results).toMatchObject([
      { toolCallId: 'a', output: { c: 21 } },
      { toolCallId: 'b', output: null, error: { code: 'TOOL_INPUT_INVALID' } },
      { toolCallId: 'c', output: null, error: { code: 'TOOL_NOT_FOUND' } },
    ]);
    // Malformed input is shown as written and never reaches the tool.
    expect(context.run.events).toContainEqual(
      expect.objectContaining({ type: 'tool-call', toolCallId: 'b', input: '{"city":' }),
    );
    expect(seen).toEqual([{ name: 'weather', input: { city: 'Oslo' } }]);
    const toolTurns = (model.requests[1]?.messages ?? []).filter((message) => message.role === 'tool');
    expect(toolTurns.map((turn) => [turn.toolCallId, turn.role === 'tool' && turn.isError === true])).toEqual(
      [
        ['a', false],
        ['b', true],
        ['c', true],
      ],
    );
  });

  it('ends with the max-steps finish reason when the model still calls tools at the cap', async () => {
    const call = [
      ...toolCall('x', SEARCH_DOCUMENTS, '{"query":"a"}'),
      { type: 'finish', finishReason: 'tool-calls' } as const,
    ];
    const model = steppedModel([
      call,
      call.map((part) => ('toolCallId' in part ? { ...part, toolCallId: 'y' } : part)),
    ]);
    const context = testContext({ deps: { model } });
    await agentPhase(context, { searchDocuments: true, maxSteps: 2 }, [], []);
    expect(model.requests).toHaveLength(2);
    expect(context.recorder.ending?.finishReason).toBe('max-steps');
    expect(context.run.events.filter((event) => event.type === 'tool-result').at(-1)).toMatchObject({
      toolCallId: 'y',
      error: { code: 'AGENT_MAX_STEPS' },
    });
  });

  it('abandons a call its provider began before failing over, and runs only what the next provider asks', async () => {
    const seen: { name: string; input: unknown }[] = [];
    const set = tools({ echo: { ok: true, output: 'ok', text: 'ok' } }, seen);
    const model = steppedModel([
      [
        { type: 'tool-input-start', toolCallId: 'half', name: 'echo' },
        { type: 'tool-input-delta', toolCallId: 'half', delta: '{"te' },
        { type: 'failover', from: 'openai', to: 'anthropic', reason: 'UPSTREAM_DROPPED' },
        ...toolCall('whole', 'echo', '{"text":"hi"}'),
        { type: 'finish', finishReason: 'tool-calls' },
      ],
      [{ type: 'text-delta', text: 'Said hi.' }],
    ]);
    const context = testContext({ deps: { model } });
    await agentPhase(context, { searchDocuments: false, maxSteps: 5, tools: set }, [], []);
    expect(context.run.events.filter((event) => event.type === 'tool-result')).toMatchObject([
      { toolCallId: 'half', error: { code: 'TOOL_CALL_ABANDONED' } },
      { toolCallId: 'whole', output: 'ok' },
    ]);
    expect(seen).toEqual([{ name: 'echo', input: { text: 'hi' } }]);
  });

  it('continues citation numbers over searches and keeps the first number of a passage found twice', async () => {
    const model = steppedModel([
      [...toolCall('s1', SEARCH_DOCUMENTS, '{"query":"alpha"}')],
      [...toolCall('s2', SEARCH_DOCUMENTS, '{"query":"beta"}')],
      [{ type: 'text-delta', text: 'See [1] and [2].' }],
    ]);
    const all = [passage('a', 'alpha'), passage('b', 'beta')];
    let call = 0;
    const retriever = fakeRetriever(all);
    retriever.search = () => {
      call += 1;
      return Promise.resolve(call === 1 ? [all[0]!] : [all[1]!, all[0]!]);
    };
    const context = testContext({ deps: { model, retriever } });
    await agentPhase(context, searching, [], []);
    const sources = context.run.events.filter((event) => event.type === 'sources');
    expect(sources.map((event) => event.sources.map((source) => source.id))).toEqual([['1'], ['1', '2']]);
    const second = context.run.events.filter((event) => event.type === 'tool-result')[1];
    expect(second).toMatchObject({ output: { results: [{ id: '2' }, { id: '1' }] } });
    // Text of a later step starts a new paragraph.
    expect(context.recorder.text).toBe('See [1] and [2].');
  });

  it('a stop during a running tool aborts the loop and the tool sees the abort', async () => {
    let sawAbort = false;
    const context = testContext();
    const hanging: ToolSet = {
      list: () => Promise.resolve([{ name: 'slow', description: 'slow', inputSchema: {} }]),
      call: (_name, _input, { signal }) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            sawAbort = true;
            reject(signal.reason as Error);
          });
          context.run.controller.abort(new Error('stopped'));
        }),
    };
    context.deps.model = steppedModel([
      [...toolCall('t', 'slow', '{}')],
      [{ type: 'text-delta', text: 'never' }],
    ]);
    await expect(
      agentPhase(context, { searchDocuments: false, maxSteps: 5, tools: hanging }, [], []),
    ).rejects.toThrow('stopped');
    expect(sawAbort).toBe(true);
    expect(context.run.events.some((event) => event.type === 'token')).toBe(false);
  });
});
