// A tiny MCP server for the tests, built with the official SDK: over stdio (`node test/fakes/mcp-server.ts --stdio`)
// or Streamable HTTP on a real port (startFakeMcpHttpServer). Tools: echo, add (a schema), slow (hangs until
// cancelled), crash (the server dies), big (a huge result), fail (an isError result), add_tool (changes the list),
// stats (what the server saw: tools/list requests, notifications/cancelled, cancelled tool runs).

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

/** What the server saw, for the tests to assert on (read with the `stats` tool, or directly in process). */
export interface FakeMcpState {
  listCalls: number;
  /** requestId of every notifications/cancelled received. */
  cancelNotifications: Array<string | number>;
  /** Names of tool runs that started (slow), so a test stops one only once it runs. */
  startedRuns: string[];
  /** Names of tool runs whose request signal fired (the SDK's reaction to notifications/cancelled). */
  cancelledRuns: string[];
  /** Headers of the HTTP requests (lower-cased names), for the header tests. */
  lastHeaders: Record<string, string | string[] | undefined>;
}

export function newFakeMcpState(): FakeMcpState {
  return { listCalls: 0, cancelNotifications: [], startedRuns: [], cancelledRuns: [], lastHeaders: {} };
}

const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });

/** The server with its tools; `crash` is what the crash tool does (exits the process over stdio). */
export function createFakeMcpServer(state: FakeMcpState, crash: () => void): McpServer {
  const server = new McpServer({ name: 'rivulet-fake-mcp', version: '1.0.0' });
  server.registerTool(
    'echo',
    { description: 'Repeats the text.', inputSchema: { text: z.string() } },
    ({ text: said }) => text(`echo: ${said}`),
  );
  server.registerTool(
    'add',
    { description: 'Adds two numbers.', inputSchema: { a: z.number(), b: z.number() } },
    ({ a, b }) => ({ ...text(String(a + b)), structuredContent: { sum: a + b } }),
  );
  server.registerTool('slow', { description: 'Never answers; notices a cancel.' }, (extra) => {
    state.startedRuns.push('slow');
    return new Promise((_resolve, reject) => {
      extra.signal.addEventListener('abort', () => {
        state.cancelledRuns.push('slow');
        reject(new Error('cancelled'));
      });
    });
  });
  server.registerTool('crash', { description: 'Kills the server.' }, () => {
    crash();
    return new Promise(() => undefined);
  });
  server.registerTool(
    'big',
    { description: 'A huge result.', inputSchema: { chars: z.number().int().optional() } },
    ({ chars }) => text('x'.repeat(chars ?? 200_000)),
  );
  server.registerTool('fail', { description: 'Reports an error.' }, () => ({
    ...text('the database is down'),
    isError: true,
  }));
  server.registerTool('add_tool', { description: 'Adds the tool "late".' }, () => {
    server.registerTool('late', { description: 'Added at run time.' }, () => text('late'));
    return text('added');
  });
  server.registerTool('stats', { description: 'What the server saw.' }, () => text(JSON.stringify(state)));
  return server;
}

/** Counts what the server receives before the SDK handles it. */
function observe(transport: Transport, state: FakeMcpState): void {
  const handle = transport.onmessage;
  transport.onmessage = (message, extra) => {
    if ('method' in message) {
      if (message.method === 'tools/list') state.listCalls += 1;
      if (message.method === 'notifications/cancelled') {
        const params = message.params as { requestId: string | number };
        state.cancelNotifications.push(params.requestId);
      }
    }
    handle?.(message, extra);
  };
}

export interface FakeMcpHttpServer {
  url: string;
  state: FakeMcpState;
  /** Closes the port and every session (a server restart or outage, seen from the client). */
  close(): Promise<void>;
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? undefined : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
}

/** Streamable HTTP on 127.0.0.1 (port 0: any free one), one MCP session per client, at `/mcp`. */
export async function startFakeMcpHttpServer(port = 0): Promise<FakeMcpHttpServer> {
  const state = newFakeMcpState();
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  let http: Server | undefined;
  const close = async () => {
    await Promise.all([...sessions.values()].map((transport) => transport.close()));
    sessions.clear();
    http?.closeAllConnections();
    await new Promise<void>((resolve) => (http === undefined ? resolve() : http.close(() => resolve())));
  };
  http = createServer((request, response) => {
    void (async () => {
      state.lastHeaders = request.headers;
      const body = request.method === 'POST' ? await readJson(request) : undefined;
      const sessionId = request.headers['mcp-session-id'];
      let transport = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
      if (transport === undefined && isInitializeRequest(body)) {
        const created = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => void sessions.set(id, created),
        });
        created.onclose = () => {
          if (created.sessionId !== undefined) sessions.delete(created.sessionId);
        };
        await createFakeMcpServer(state, () => void close()).connect(created);
        observe(created, state);
        transport = created;
      }
      if (transport === undefined) {
        response.writeHead(404, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }),
        );
        return;
      }
      await transport.handleRequest(request, response, body);
    })().catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500);
      response.end(String(error));
    });
  });
  const server = http;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${address.port}/mcp`, state, close };
}

/** The command line that runs this server over stdio (for a chatbot's `command` and `args`). */
export const FAKE_MCP_STDIO = {
  command: process.execPath,
  args: ['--experimental-strip-types', '--no-warnings', fileURLToPath(import.meta.url), '--stdio'],
};

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--stdio')) {
  const state = newFakeMcpState();
  const transport = new StdioServerTransport();
  await createFakeMcpServer(state, () => process.exit(3)).connect(transport);
  observe(transport, state);
}
