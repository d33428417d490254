// Agent answers end to end: a chatbot with tools, a real Rivulet server on a port, the fake upstream speaking each
// provider's format with scripted tool-call steps, and a real MCP server (the SDK's) for the tools that hang.

import { readUIMessageStream, type UIMessage, type UIMessageChunk } from 'ai';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import type { McpServerConfig } from '../../src/core/chatbots.ts';
import type { RunEvent } from '../../src/core/events.ts';
import {
  startFakeAnthropic,
  startFakeOllama,
  type FakeScenario,
  type FakeUpstream,
} from '../fakes/fake-upstream.ts';
import { FAKE_MCP_STDIO, startFakeMcpHttpServer, type FakeMcpHttpServer } from '../fakes/mcp-server.ts';
import { REFUNDS, SHIPPING } from '../helpers/refund-corpus.ts';
import { lastEvent, readSse, tokenText, type SseReadResult } from '../helpers/sse-client.ts';
import { putTestChatbot, startTestServer, type TestServer } from '../helpers/test-server.ts';
import { connectWs, isTerminalFrame } from '../helpers/ws-client.ts';

let server: TestServer | undefined;
let other: FakeUpstream | undefined;
let mcp: FakeMcpHttpServer | undefined;
afterEach(async () => {
  await server?.close();
  await other?.close();
  await mcp?.close();
  server = other = mcp = undefined;
});

const SEARCH_THEN_ANSWER: FakeScenario = {
  steps: [
    { toolCalls: [{ name: 'search_documents', arguments: { query: 'refund timing' } }] },
    { tokens: ['Refunds are issued ', 'within 14 days [1].'] },
  ],
};

async function upload(
  testServer: TestServer,
  files: Record<string, string>,
  collection: string,
): Promise<void> {
  const form = new FormData();
  for (const [name, content] of Object.entries(files)) form.append('file', new Blob([content]), name);
  const response = await fetch(`${testServer.url}/api/documents?chatbotId=${collection}`, {
    method: 'POST',
    body: form,
  });
  expect(response.status).toBe(200);
}

/** An agent chatbot answering from the refund corpus with search_documents (and the MCP servers given). */
async function agentChatbot(
  testServer: TestServer,
  tools: { maxSteps?: number; mcpServers?: McpServerConfig[]; searchDocuments?: boolean } = {},
): Promise<void> {
  await putTestChatbot(testServer, 'agent', {
    collectionId: 'agent',
    tools: {
      searchDocuments: tools.searchDocuments ?? true,
      maxSteps: tools.maxSteps ?? 5,
      mcpServers: tools.mcpServers ?? [],
      allowedTools: null,
    },
  });
  await upload(testServer, { 'refunds.md': REFUNDS, 'shipping.md': SHIPPING }, 'agent');
}

function ask(
  testServer: TestServer,
  message = 'How long do refunds take?',
  onFrame?: (event: RunEvent) => void,
) {
  return readSse(`${testServer.url}/api/chat/stream`, {
    body: { message, chatbotId: 'agent' },
    ...(onFrame === undefined ? {} : { onFrame: (frame: { data: RunEvent }) => onFrame(frame.data) }),
  });
}

const types = (result: SseReadResult): string[] =>
  result.frames.map((frame) => frame.data.type).filter((type) => type !== 'tool-input-delta');

const EXPECTED_TWO_STEPS = [
  'start',
  'phase',
  'phase',
  'step',
  'phase',
  'tool-input-start',
  'tool-call',
  'phase',
  'sources',
  'tool-result',
  'step',
  'step',
  'phase',
  'token',
  'token',
  'phase',
  'step',
  'usage',
  'done',
];

const FAMILIES: {
  name: string;
  start: (testScenario: FakeScenario) => Promise<{ server: TestServer; upstream: FakeUpstream }>;
}[] = [
  {
    name: 'OpenAI Chat Completions',
    start: async (testScenario) => {
      const started = await startTestServer({}, testScenario);
      return { server: started, upstream: started.upstream };
    },
  },
  {
    name: 'Anthropic Messages',
    start: async (testScenario) => {
      const upstream = await startFakeAnthropic({ scenario: testScenario, requireApiKey: 'sk-ant' });
      other = upstream;
      const started = await startTestServer({
        LLM_PROVIDER: 'anthropic',
        ANTHROPIC_API_KEY: 'sk-ant',
        LLM_BASE_URL: upstream.url,
        LLM_MODEL: 'claude-test',
      });
      return { server: started, upstream };
    },
  },
  {
    name: 'Ollama',
    start: async (testScenario) => {
      const upstream = await startFakeOllama({ scenario: testScenario });
      other = upstream;
      const started = await startTestServer({
        LLM_PROVIDER: 'ollama',
        LLM_BASE_URL: upstream.url,
        LLM_MODEL: 'llama3.2',
      });
      return { server: started, upstream };
    },
  },
];

describe.each(FAMILIES)('a two-step agent answer ($name)', ({ start }) => {
  it('streams the step, the tool input as written, the call, its sources and result, then the answer', async () => {
    const started = await start(SEARCH_THEN_ANSWER);
    server = started.server;
    await agentChatbot(server);
    const result = await ask(server);

    expect(types(result), JSON.stringify(result.frames.map((frame) => frame.data).slice(0, 40))).toEqual(
      EXPECTED_TWO_STEPS,
    );
    const events = result.frames.map((frame) => frame.data);
    const call = events.find((event) => event.type === 'tool-call');
    expect(call).toMatchObject({ name: 'search_documents', input: { query: 'refund timing' }, step: 1 });
    // The input streamed in pieces adds up to what the call carries.
    const pieces = events.flatMap((event) => (event.type === 'tool-input-delta' ? [event.delta] : []));
    if (pieces.length > 0) expect(JSON.parse(pieces.join(''))).toEqual({ query: 'refund timing' });
    const sources = events.find((event) => event.type === 'sources');
    expect(sources?.type === 'sources' && sources.sources[0]?.title).toContain('Refund policy');
    expect(events.find((event) => event.type === 'tool-result')).toMatchObject({
      toolCallId: call?.type === 'tool-call' ? call.toolCallId : '',
      output: {
        query: 'refund timing',
        results: expect.arrayContaining([expect.objectContaining({ id: '1' })]) as unknown,
      },
    });
    expect(lastEvent(result.frames)).toMatchObject({
      type: 'done',
      finishReason: 'stop',
      text: 'Refunds are issued within 14 days [1].',
    });
    expect(tokenText(result.frames)).toBe('Refunds are issued within 14 days [1].');

    // The provider was offered the tool and read its result (the passages, numbered) in the second request.
    const [first, second] = started.upstream.requests;
    expect(first?.toolTurns?.tools).toEqual(['search_documents']);
    expect(second?.toolTurns?.results[0]?.content).toContain('[1] Refund policy');
    expect(second?.toolTurns?.results[0]?.content).toContain('within 14 days');

    // The stored answer keeps its steps.
    await server.app.chat.settled();
    const start0 = events[0] as Extract<RunEvent, { type: 'start' }>;
    const stored = (await server.app.stores.conversations.listMessages(start0.conversationId)).at(-1);
    expect(stored?.steps).toMatchObject([
      {
        step: 1,
        finishReason: 'tool-calls',
        toolCalls: [{ name: 'search_documents', input: { query: 'refund timing' } }],
      },
      { step: 2, finishReason: 'stop', text: 'Refunds are issued within 14 days [1].', toolCalls: [] },
    ]);
    expect(stored?.sources?.map((source) => source.id)).toEqual(['1', '2']);
  });
});

describe('agent answers over the OpenAI-compatible upstream', () => {
  it('a reader that drops in the middle of a tool call resumes with nothing lost or repeated', async () => {
    server = await startTestServer(
      {},
      {
        steps: [
          {
            toolCalls: [
              { name: 'search_documents', arguments: { query: 'refund timing and the exceptions to it' } },
            ],
            argumentChunkChars: 4,
            interTokenMs: 5,
          },
          { tokenCount: 20, interTokenMs: 5, seed: 7 },
        ],
      },
    );
    await agentChatbot(server);
    const whole = await ask(server);
    let runId = '';
    let pieces = 0;
    let cutAt = -1;
    // Hang up right after the third piece of the tool's input.
    await readSse(`${server.url}/api/chat/stream`, {
      body: { message: 'How long do refunds take?', chatbotId: 'agent' },
      onFrame: (frame) => {
        if (frame.data.type === 'start') runId = frame.data.runId;
        if (frame.data.type !== 'tool-input-delta') return false;
        pieces += 1;
        cutAt = frame.data.seq;
        return pieces === 3;
      },
    });
    expect(pieces).toBe(3);
    expect(runId).not.toBe('');
    const resumed = await readSse(`${server.url}/api/runs/${runId}/events`, {
      headers: { 'last-event-id': `${runId}:${cutAt}` },
    });
    const seqs = resumed.frames.map((frame) => frame.data.seq);
    expect(seqs[0]).toBe(cutAt + 1);
    // The resumed stream has the rest: the call, its result, the answer; all seqs after the cut, none twice.
    expect(new Set(seqs).size).toBe(seqs.length);
    const inputAfterCut = resumed.frames
      .map((frame) => frame.data)
      .filter((event) => event.type === 'tool-input-delta');
    expect(inputAfterCut.length).toBeGreaterThan(0);
    const resumedEvents = resumed.frames.map((frame) => frame.data.type);
    expect(resumedEvents).toContain('tool-call');
    expect(resumedEvents).toContain('tool-result');
    expect(lastEvent(resumed.frames)).toMatchObject({ type: 'done', finishReason: 'stop' });
    expect(lastEvent(resumed.frames)).toMatchObject({
      text: (lastEvent(whole.frames) as Extract<RunEvent, { type: 'done' }>).text,
    });
  });

  it('stop during a running MCP tool cancels it on its server and ends the answer as stopped', async () => {
    mcp = await startFakeMcpHttpServer();
    server = await startTestServer(
      {},
      { steps: [{ toolCalls: [{ name: 'slow-server__slow', arguments: {} }] }, { tokens: ['never'] }] },
    );
    await agentChatbot(server, {
      searchDocuments: false,
      mcpServers: [
        {
          name: 'slow-server',
          transport: 'http',
          url: mcp.url,
          headers: {},
          timeoutMs: 60_000,
          maxResultChars: null,
        },
      ],
    });
    const fakeMcp = mcp;
    let runId = '';
    const testServer = server;
    const result = await ask(testServer, 'Run the slow tool', (event) => {
      if (event.type === 'start') runId = event.runId;
      if (event.type === 'tool-call') {
        // Stop once the server has the call running.
        void (async () => {
          while (!fakeMcp.state.startedRuns.includes('slow'))
            await new Promise((resolve) => setTimeout(resolve, 10));
          await fetch(`${testServer.url}/api/runs/${runId}/stop`, { method: 'POST' });
        })();
      }
    });
    expect(lastEvent(result.frames)).toMatchObject({ type: 'done', finishReason: 'aborted' });
    // The MCP server was told: the request was cancelled there too.
    for (let tries = 0; tries < 200 && !fakeMcp.state.cancelledRuns.includes('slow'); tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(fakeMcp.state.cancelledRuns).toContain('slow');
    expect(fakeMcp.state.cancelNotifications.length).toBeGreaterThan(0);
    // The model was never asked for a second step.
    expect(testServer.upstream.requests).toHaveLength(1);
  });

  it('a hanging MCP tool times out with a coded tool error the model reads, and the answer goes on', async () => {
    server = await startTestServer(
      {},
      {
        steps: [{ toolCalls: [{ name: 'local__slow', arguments: {} }] }, { tokens: ['The tool timed out.'] }],
      },
    );
    await agentChatbot(server, {
      searchDocuments: false,
      mcpServers: [
        {
          name: 'local',
          transport: 'stdio',
          ...FAKE_MCP_STDIO,
          env: {},
          timeoutMs: 300,
          maxResultChars: null,
        },
      ],
    });
    const result = await ask(server, 'Run the slow tool');
    const events = result.frames.map((frame) => frame.data);
    expect(events.find((event) => event.type === 'tool-result')).toMatchObject({
      name: 'local__slow',
      output: null,
      error: { code: 'TOOL_TIMEOUT' },
    });
    expect(lastEvent(result.frames)).toMatchObject({
      type: 'done',
      finishReason: 'stop',
      text: 'The tool timed out.',
    });
    const toolTurn = server.upstream.requests[1]?.toolTurns?.results[0];
    // OpenAI's tool messages have no error flag: the coded message tells the model.
    expect(toolTurn?.content).toContain('TOOL_TIMEOUT');
  });

  it('enforces maxSteps: the calls of the last step do not run and the answer ends with max-steps', async () => {
    server = await startTestServer(
      {},
      { steps: [{ toolCalls: [{ name: 'search_documents', arguments: { query: 'refunds' } }] }] },
    );
    await agentChatbot(server, { maxSteps: 2 });
    const result = await ask(server);
    expect(server.upstream.requests).toHaveLength(2);
    const results = result.frames.map((frame) => frame.data).filter((event) => event.type === 'tool-result');
    expect(results.map((event) => event.error?.code)).toEqual([undefined, 'AGENT_MAX_STEPS']);
    expect(lastEvent(result.frames)).toMatchObject({ type: 'done', finishReason: 'max-steps' });
  });

  it('malformed tool input is shown as written, refused with a coded error the model reads, and never run', async () => {
    server = await startTestServer(
      {},
      {
        steps: [
          { toolCalls: [{ name: 'search_documents', arguments: '{"query": "unterminated' }] },
          { tokens: ['Sorry.'] },
        ],
      },
    );
    await agentChatbot(server);
    const result = await ask(server);
    const events = result.frames.map((frame) => frame.data);
    expect(events.find((event) => event.type === 'tool-call')).toMatchObject({
      input: '{"query": "unterminated',
    });
    expect(events.find((event) => event.type === 'tool-result')).toMatchObject({
      error: { code: 'TOOL_INPUT_INVALID' },
    });
    expect(events.some((event) => event.type === 'sources')).toBe(false);
    expect(lastEvent(result.frames)).toMatchObject({ type: 'done', text: 'Sorry.' });
  });
});

describe('search_documents on the sample corpus', () => {
  it('cites the same passages, in the same order, as plain RAG for the same question', async () => {
    const questions = ['How do I resume a stream after a disconnect?', 'Which file types can I upload?'];
    server = await startTestServer({ SAMPLE_CORPUS: 'true' }, {});
    const defaultBot = await server.app.stores.chatbots.getChatbot('default');
    await putTestChatbot(server, 'agent', {
      collectionId: defaultBot?.collectionId ?? 'default',
      tools: { searchDocuments: true, maxSteps: 3, mcpServers: [], allowedTools: null },
    });
    for (const question of questions) {
      server.upstream.setScenario({ tokens: ['Plain answer [1].'] });
      const plain = await readSse(`${server.url}/api/chat/stream`, { body: { message: question } });
      server.upstream.setScenario({
        steps: [
          { toolCalls: [{ name: 'search_documents', arguments: { query: question } }] },
          { tokens: ['Agent answer [1].'] },
        ],
      });
      const agent = await ask(server, question);
      const sourcesOf = (result: SseReadResult) =>
        result.frames
          .map((frame) => frame.data)
          .filter((event) => event.type === 'sources')
          .at(-1);
      const plainSources = sourcesOf(plain);
      const agentSources = sourcesOf(agent);
      expect(plainSources?.type === 'sources' && plainSources.sources.length).toBeGreaterThan(0);
      const key = (event: RunEvent | undefined) =>
        event?.type === 'sources'
          ? event.sources.map((source) => [source.id, source.chunkId, source.title])
          : [];
      expect(key(agentSources)).toEqual(key(plainSources));
    }
  });
});

describe('agent answers on every transport', () => {
  it('the openai client reads the calls as tool_calls deltas and the answer as content; POST /api/chat lists toolSteps', async () => {
    server = await startTestServer({}, SEARCH_THEN_ANSWER);
    await agentChatbot(server);
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = client.chat.completions.stream({
      model: 'agent',
      messages: [{ role: 'user', content: 'How long do refunds take?' }],
    });
    const final = await stream.finalChatCompletion();
    const choice = final.choices[0];
    expect(choice?.message.content).toBe('Refunds are issued within 14 days [1].');
    expect(choice?.message.tool_calls?.[0]).toMatchObject({
      type: 'function',
      function: { name: 'search_documents', arguments: '{"query":"refund timing"}' },
    });
    expect(choice?.finish_reason).toBe('stop');

    server.upstream.reset();
    const whole = await fetch(`${server.url}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'How long do refunds take?', chatbotId: 'agent' }),
    });
    expect(await whole.json()).toMatchObject({
      text: 'Refunds are issued within 14 days [1].',
      toolSteps: [{ name: 'search_documents', input: { query: 'refund timing' }, step: 1 }],
      finishReason: 'stop',
    });
  });

  it('the AI SDK reads a tool part (input, then output) and one text part per step', async () => {
    server = await startTestServer({}, SEARCH_THEN_ANSWER);
    await agentChatbot(server);
    const response = await fetch(`${server.url}/api/chat/ui`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'agentchat1',
        chatbotId: 'agent',
        trigger: 'submit-message',
        messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text: 'How long do refunds take?' }] }],
      }),
    });
    expect(response.status).toBe(200);
    const chunks = response.body!.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TransformStream<string, UIMessageChunk>({
        transform(text, controller) {
          for (const line of text.split('\n')) {
            if (line.startsWith('data: ') && line !== 'data: [DONE]') {
              controller.enqueue(JSON.parse(line.slice(6)) as UIMessageChunk);
            }
          }
        },
      }),
    );
    let message: UIMessage | undefined;
    for await (const state of readUIMessageStream({ stream: chunks })) message = state;
    const parts = message?.parts ?? [];
    const tool = parts.find((part) => part.type === 'dynamic-tool');
    expect(tool).toMatchObject({
      toolName: 'search_documents',
      state: 'output-available',
      input: { query: 'refund timing' },
    });
    expect(parts.filter((part) => part.type === 'step-start')).toHaveLength(2);
    expect(
      parts.filter((part) => part.type === 'text').map((part) => part.type === 'text' && part.text),
    ).toEqual(['Refunds are issued within 14 days [1].']);
  });
});

describe('agent answers over WebSocket', () => {
  it('carries the same events as SSE, in order, for a two-step answer', async () => {
    server = await startTestServer({}, SEARCH_THEN_ANSWER);
    await agentChatbot(server);
    const client = await connectWs(server.url);
    try {
      client.send({
        type: 'chat',
        message: 'How long do refunds take?',
        chatbotId: 'agent',
        requestId: 'r1',
      });
      const accepted = await client.waitFor((frame) => frame.type === 'accepted' && frame.requestId === 'r1');
      const runId = accepted.type === 'accepted' ? accepted.runId : '';
      await client.waitFor((frame) => isTerminalFrame(frame, runId));
      const events = client.frames.flatMap((frame) =>
        frame.type === 'event' && frame.runId === runId ? [frame.event] : [],
      );
      expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
      expect(events.map((event) => event.type).filter((type) => type !== 'tool-input-delta')).toEqual(
        EXPECTED_TWO_STEPS,
      );
    } finally {
      client.socket.close();
    }
  });
});
