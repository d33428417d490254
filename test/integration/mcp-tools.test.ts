// MCP tools through the registry, against a real MCP server (the SDK's) over stdio and over Streamable HTTP on a port.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newChatbot, type Chatbot, type McpServerConfig } from '../../src/core/chatbots.ts';
import type { Logger } from '../../src/core/logger.ts';
import type { ToolOutcome, ToolSet } from '../../src/core/tools.ts';
import { McpToolRegistry } from '../../src/tools/registry.ts';
import {
  FAKE_MCP_STDIO,
  startFakeMcpHttpServer,
  type FakeMcpHttpServer,
  type FakeMcpState,
} from '../fakes/mcp-server.ts';

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function chatbotWith(servers: McpServerConfig[], allowedTools: string[] | null = null): Chatbot {
  return {
    ...newChatbot('agent'),
    tools: { searchDocuments: false, maxSteps: 5, mcpServers: servers, allowedTools },
    createdAt: 0,
    updatedAt: 0,
  };
}

const stdioServer = (overrides: Partial<McpServerConfig> = {}): McpServerConfig =>
  ({
    name: 'local',
    transport: 'stdio',
    ...FAKE_MCP_STDIO,
    env: {},
    timeoutMs: null,
    maxResultChars: null,
    ...overrides,
  }) as McpServerConfig;

let callIds = 0;
function call(
  tools: ToolSet,
  name: string,
  input: unknown,
  signal = new AbortController().signal,
): Promise<ToolOutcome> {
  callIds += 1;
  return tools.call(name, input, { signal, toolCallId: `call_${callIds}` });
}

async function stats(tools: ToolSet, name: string): Promise<FakeMcpState> {
  const outcome = await call(tools, name, {});
  if (!outcome.ok) throw new Error(outcome.message);
  return JSON.parse(outcome.text) as FakeMcpState;
}

/** Resolves once `check` holds, polling the server's state (no sleeps as synchronisation beyond a poll tick). */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let tries = 0; tries < 200; tries += 1) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('condition never held');
}

describe('MCP tools over stdio', () => {
  const registry = new McpToolRegistry({
    logger: quiet,
    defaults: { timeoutMs: 30_000, maxResultChars: 1_000 },
  });
  afterAll(() => registry.close());

  it('lists the server tools under provider-safe namespaced names, with their input schemas', async () => {
    const tools = registry.toolSet(chatbotWith([stdioServer()]));
    const listed = await tools.list(new AbortController().signal);
    expect(listed.map((tool) => tool.name).sort()).toEqual([
      'local__add',
      'local__add_tool',
      'local__big',
      'local__crash',
      'local__echo',
      'local__fail',
      'local__slow',
      'local__stats',
    ]);
    for (const tool of listed) expect(tool.name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    const add = listed.find((tool) => tool.name === 'local__add');
    expect(add?.description).toBe('Adds two numbers.');
    expect(add?.inputSchema).toMatchObject({ type: 'object', required: ['a', 'b'] });
  });

  it('calls a tool and gives the model its text, and events its structured output', async () => {
    const tools = registry.toolSet(chatbotWith([stdioServer()]));
    expect(await call(tools, 'local__echo', { text: 'héllo' })).toEqual({
      ok: true,
      output: 'echo: héllo',
      text: 'echo: héllo',
    });
    expect(await call(tools, 'local__add', { a: 2, b: 3 })).toEqual({
      ok: true,
      output: { sum: 5 },
      text: '5',
    });
  });

  it('fetches the tool list once and shares the connection between answers', async () => {
    const first = registry.toolSet(chatbotWith([stdioServer()]));
    await first.list(new AbortController().signal);
    const before = (await stats(first, 'local__stats')).listCalls;
    await registry.toolSet(chatbotWith([stdioServer()])).list(new AbortController().signal);
    await first.list(new AbortController().signal);
    expect((await stats(first, 'local__stats')).listCalls).toBe(before);
  });

  it('refreshes the cached list when the server says it changed', async () => {
    const server = stdioServer({ name: 'changing' });
    const tools = registry.toolSet(chatbotWith([server]));
    expect((await tools.list(new AbortController().signal)).map((tool) => tool.name)).not.toContain(
      'changing__late',
    );
    expect(await call(tools, 'changing__add_tool', {})).toMatchObject({ ok: true });
    await eventually(async () =>
      (await tools.list(new AbortController().signal)).some((tool) => tool.name === 'changing__late'),
    );
    expect(await call(tools, 'changing__late', {})).toMatchObject({ ok: true, text: 'late' });
  });

  it('refuses input that does not match the schema with TOOL_INPUT_INVALID, naming the field, before the server runs', async () => {
    const tools = registry.toolSet(chatbotWith([stdioServer()]));
    const outcome = await call(tools, 'local__add', { a: 'two', b: 3 });
    expect(outcome).toMatchObject({ ok: false, code: 'TOOL_INPUT_INVALID' });
    expect(!outcome.ok && outcome.message).toContain('input/a must be number');
    expect(await call(tools, 'local__add', { a: 1 })).toMatchObject({
      ok: false,
      code: 'TOOL_INPUT_INVALID',
    });
    expect(await call(tools, 'local__echo', 'not an object')).toMatchObject({
      ok: false,
      code: 'TOOL_INPUT_INVALID',
    });
  });

  it('answers a made-up tool name with TOOL_NOT_FOUND listing the real ones', async () => {
    const tools = registry.toolSet(chatbotWith([stdioServer()]));
    const outcome = await call(tools, 'local__nope', {});
    expect(outcome).toMatchObject({ ok: false, code: 'TOOL_NOT_FOUND' });
    expect(!outcome.ok && outcome.message).toContain('local__echo');
  });

  it('offers only allowedTools when the chatbot names some', async () => {
    const tools = registry.toolSet(chatbotWith([stdioServer()], ['local__echo']));
    expect((await tools.list(new AbortController().signal)).map((tool) => tool.name)).toEqual([
      'local__echo',
    ]);
    expect(await call(tools, 'local__add', { a: 1, b: 2 })).toMatchObject({
      ok: false,
      code: 'TOOL_NOT_FOUND',
    });
  });

  it('cuts a huge result to the cap with a marker the model reads', async () => {
    const tools = registry.toolSet(chatbotWith([stdioServer({ maxResultChars: 500 })]));
    const outcome = await call(tools, 'local__big', { chars: 100_000 });
    if (!outcome.ok) throw new Error(outcome.message);
    expect(outcome.text.length).toBeLessThanOrEqual(500);
    expect(outcome.text).toMatch(/\[truncated: \d+ more characters\]$/);
    expect(outcome.output).toBe(outcome.text);
  });

  it("gives the model a tool's own error text as TOOL_FAILED", async () => {
    const tools = registry.toolSet(chatbotWith([stdioServer()]));
    const outcome = await call(tools, 'local__fail', {});
    expect(outcome).toMatchObject({ ok: false, code: 'TOOL_FAILED' });
    expect(!outcome.ok && outcome.toolText).toBe('the database is down');
    expect(!outcome.ok && outcome.message).not.toContain('database');
  });

  it('times a hanging tool out with TOOL_TIMEOUT and cancels it on the server', async () => {
    const tools = registry.toolSet(chatbotWith([stdioServer({ name: 'hangs', timeoutMs: 300 })]));
    const outcome = await call(tools, 'hangs__slow', {});
    expect(outcome).toMatchObject({ ok: false, code: 'TOOL_TIMEOUT' });
    await eventually(async () => (await stats(tools, 'hangs__stats')).cancelledRuns.includes('slow'));
    expect((await stats(tools, 'hangs__stats')).cancelNotifications).toHaveLength(1);
  });

  it('cancels the MCP request when the answer is stopped: the server gets notifications/cancelled', async () => {
    const tools = registry.toolSet(chatbotWith([stdioServer({ name: 'stoppable' })]));
    await tools.list(new AbortController().signal);
    const stop = new AbortController();
    const running = call(tools, 'stoppable__slow', {}, stop.signal);
    // Stop only once the server runs the tool, so the cancel reaches a request in flight.
    await eventually(async () => (await stats(tools, 'stoppable__stats')).startedRuns.includes('slow'));
    stop.abort(new Error('stopped by the user'));
    await expect(running).rejects.toThrow('stopped by the user');
    await eventually(async () => (await stats(tools, 'stoppable__stats')).cancelledRuns.includes('slow'));
    const seen = await stats(tools, 'stoppable__stats');
    expect(seen.cancelNotifications).toHaveLength(1);
  });

  it('turns a crashed server into a coded tool error, and starts it again on the next call', async () => {
    const tools = registry.toolSet(chatbotWith([stdioServer({ name: 'fragile' })]));
    const crashed = await call(tools, 'fragile__crash', {});
    expect(crashed).toMatchObject({ ok: false, code: 'TOOL_FAILED' });
    expect(await call(tools, 'fragile__echo', { text: 'again' })).toMatchObject({
      ok: true,
      text: 'echo: again',
    });
  });

  it('reports a command that does not start as MCP_SERVER_UNAVAILABLE and leaves its tools out of the list', async () => {
    const broken = stdioServer({ name: 'broken', command: '/nonexistent/mcp-server', args: [] });
    const tools = registry.toolSet(chatbotWith([broken, stdioServer()]));
    const listed = await tools.list(new AbortController().signal);
    expect(listed.some((tool) => tool.name.startsWith('broken__'))).toBe(false);
    expect(listed.some((tool) => tool.name === 'local__echo')).toBe(true);
  });
});

describe('agent setup from chatbot settings', () => {
  const registry = new McpToolRegistry({
    logger: quiet,
    defaults: { timeoutMs: 30_000, maxResultChars: 1_000 },
  });
  afterAll(() => registry.close());

  it('keeps a chatbot without tools on the one-call pipeline, and gives the loop its settings otherwise', () => {
    expect(registry.agentSetup(chatbotWith([]))).toBeUndefined();
    const searchOnly = chatbotWith([]);
    searchOnly.tools = { ...searchOnly.tools, searchDocuments: true, maxSteps: 3 };
    expect(registry.agentSetup(searchOnly)).toEqual({ searchDocuments: true, maxSteps: 3 });
    const withServer = registry.agentSetup(chatbotWith([stdioServer()]));
    expect(withServer).toMatchObject({ searchDocuments: false, maxSteps: 5 });
    expect(withServer?.tools).toBeDefined();
  });
});

describe('MCP tools over Streamable HTTP', () => {
  let server: FakeMcpHttpServer;
  const registry = new McpToolRegistry({
    logger: quiet,
    defaults: { timeoutMs: 30_000, maxResultChars: 1_000 },
  });
  const httpServer = (overrides: Partial<McpServerConfig> = {}): McpServerConfig =>
    ({
      name: 'remote',
      transport: 'http',
      url: server.url,
      headers: { authorization: 'Bearer mcp-secret' },
      timeoutMs: null,
      maxResultChars: null,
      ...overrides,
    }) as McpServerConfig;

  beforeAll(async () => {
    server = await startFakeMcpHttpServer();
  });
  afterAll(async () => {
    await registry.close();
    await server.close();
  });

  it('lists and calls tools on a real port, sending the configured headers', async () => {
    const tools = registry.toolSet(chatbotWith([httpServer()]));
    expect((await tools.list(new AbortController().signal)).map((tool) => tool.name)).toContain(
      'remote__echo',
    );
    expect(await call(tools, 'remote__echo', { text: 'over http' })).toMatchObject({
      ok: true,
      text: 'echo: over http',
    });
    expect(server.state.lastHeaders.authorization).toBe('Bearer mcp-secret');
  });

  it('times out a hanging tool and the server sees the cancel', async () => {
    const tools = registry.toolSet(chatbotWith([httpServer({ name: 'slowremote', timeoutMs: 300 })]));
    expect(await call(tools, 'slowremote__slow', {})).toMatchObject({ ok: false, code: 'TOOL_TIMEOUT' });
    await eventually(() => Promise.resolve(server.state.cancelledRuns.includes('slow')));
    expect(server.state.cancelNotifications.length).toBeGreaterThanOrEqual(1);
  });

  it('gives MCP_SERVER_UNAVAILABLE while the server is down and reconnects when it is back', async () => {
    const port = Number(new URL(server.url).port);
    const tools = registry.toolSet(chatbotWith([httpServer({ name: 'flaky' })]));
    expect(await call(tools, 'flaky__echo', { text: 'up' })).toMatchObject({ ok: true });
    await server.close();
    expect(await call(tools, 'flaky__echo', { text: 'down' })).toMatchObject({
      ok: false,
      code: 'MCP_SERVER_UNAVAILABLE',
    });
    server = await startFakeMcpHttpServer(port);
    expect(await call(tools, 'flaky__echo', { text: 'back' })).toMatchObject({
      ok: true,
      text: 'echo: back',
    });
  });
});
