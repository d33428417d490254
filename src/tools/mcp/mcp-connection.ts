// One MCP server's client connection, opened on first use, shared by every answer, reopened after it is lost.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode as McpErrorCode,
  McpError,
  ToolListChangedNotificationSchema,
  type CallToolResult,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { McpServerConfig } from '../../core/chatbots.ts';
import type { Logger } from '../../core/logger.ts';

/** Why a call did not give a result, before it is mapped to a tool outcome. */
export type McpCallFailure =
  | { kind: 'unavailable'; detail: string }
  | { kind: 'timeout' }
  | { kind: 'connection-lost'; detail: string }
  | { kind: 'protocol-error'; detail: string };

export class McpCallError extends Error {
  readonly failure: McpCallFailure;
  constructor(failure: McpCallFailure) {
    super('detail' in failure ? failure.detail : failure.kind);
    this.name = 'McpCallError';
    this.failure = failure;
  }
}

/**
 * The least time the handshake and a tools/list get, whatever a tool's timeout: starting a stdio server (a Node or
 * Python process) takes seconds on a busy machine, and a short tool timeout must not make it look unreachable.
 */
const MIN_SETUP_TIMEOUT_MS = 10_000;

export interface McpConnectionOptions {
  server: McpServerConfig;
  /** Each tool call may take this long; the handshake and a tools/list too, but at least 10 s. */
  timeoutMs: number;
  logger: Logger;
  clientVersion: string;
}

/**
 * The client of one configured server. The tool list is fetched once and kept until the server says it changed
 * (`notifications/tools/list_changed`) or the connection is lost; a lost connection (a stdio process that exited, an
 * HTTP server that forgot the session) is reopened by the next request, which starts a stdio server again.
 */
export class McpConnection {
  readonly server: McpServerConfig;
  private readonly options: McpConnectionOptions;
  /** The open (or opening) client; undefined when closed or lost. */
  private client: Promise<Client> | undefined;
  private tools: Promise<Tool[]> | undefined;
  private closed = false;

  constructor(options: McpConnectionOptions) {
    this.options = options;
    this.server = options.server;
  }

  /** The server's tools, from the cache when it has them. Throws McpCallError (unavailable or timeout). */
  async listTools(): Promise<Tool[]> {
    this.tools ??= this.fetchTools();
    const pending = this.tools;
    try {
      return await pending;
    } catch (error) {
      if (this.tools === pending) this.tools = undefined;
      throw error;
    }
  }

  /**
   * Calls a tool. Aborting `signal` sends `notifications/cancelled` for the request and rejects with the signal's
   * reason; running longer than the timeout cancels it the same way and throws McpCallError `timeout`.
   */
  async callTool(name: string, input: Record<string, unknown>, signal: AbortSignal): Promise<CallToolResult> {
    const client = await this.connected();
    signal.throwIfAborted();
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    try {
      // The SDK sends notifications/cancelled when this signal aborts: the caller's stop or our timeout.
      const result = await client.callTool({ name, arguments: input }, undefined, {
        signal: AbortSignal.any([signal, timeout]),
        // Our own timeout fires first and is told apart from the caller's abort below.
        timeout: this.options.timeoutMs + 60_000,
      });
      return result as CallToolResult;
    } catch (error) {
      signal.throwIfAborted();
      if (timeout.aborted) throw new McpCallError({ kind: 'timeout' });
      throw this.classify(error, client);
    }
  }

  /** Closes the connection (a stdio server is stopped); later requests fail as unavailable. */
  async close(): Promise<void> {
    this.closed = true;
    await this.drop();
  }

  private async fetchTools(): Promise<Tool[]> {
    const client = await this.connected();
    const tools: Tool[] = [];
    let cursor: string | undefined;
    try {
      do {
        const page = await client.listTools(cursor === undefined ? {} : { cursor }, {
          timeout: this.setupTimeoutMs,
        });
        tools.push(...page.tools);
        cursor = page.nextCursor;
      } while (cursor !== undefined && tools.length < 1000);
    } catch (error) {
      throw this.classify(error, client);
    }
    return tools;
  }

  private connected(): Promise<Client> {
    if (this.closed)
      return Promise.reject(new McpCallError({ kind: 'unavailable', detail: 'the connection is closed' }));
    this.client ??= this.open();
    const pending = this.client;
    // A failed open is forgotten so the next request tries again.
    pending.catch(() => {
      if (this.client === pending) this.client = undefined;
    });
    return pending;
  }

  private async open(): Promise<Client> {
    const { logger, clientVersion } = this.options;
    const client = new Client({ name: 'rivulet', version: clientVersion }, { capabilities: {} });
    const transport = this.transport();
    let opened = false;
    client.onclose = () => {
      // The stdio process exited or the HTTP transport closed: the next request reconnects, and lists anew.
      if (opened && !this.closed)
        logger.warn(
          { mcpServer: this.server.name },
          'MCP server connection lost; it reopens on the next call',
        );
      void this.forget(client);
    };
    client.onerror = (error) => {
      logger.debug?.({ mcpServer: this.server.name, error: error.message }, 'MCP transport error');
    };
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      this.tools = undefined;
    });
    try {
      await client.connect(transport, { timeout: this.setupTimeoutMs });
    } catch (error) {
      await client.close().catch(() => undefined);
      throw new McpCallError({ kind: 'unavailable', detail: errorText(error) });
    }
    opened = true;
    this.tools = undefined;
    return client;
  }

  private transport(): Transport {
    const { server, logger } = this;
    if (server.transport === 'http') {
      return new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: server.headers },
      });
    }
    const transport = new StdioClientTransport({
      command: server.command,
      args: server.args,
      // Only the SDK's short list of safe variables (PATH, HOME, ...) plus the configured ones: never Rivulet's secrets.
      env: { ...getDefaultEnvironment(), ...server.env },
      stderr: 'pipe',
    });
    // Drained so a chatty server never blocks on a full pipe; kept at debug level, cut short.
    transport.stderr?.on('data', (chunk: Buffer) => {
      logger.debug?.({ mcpServer: server.name, stderr: chunk.toString('utf8', 0, 500) }, 'MCP server stderr');
    });
    return transport;
  }

  private get setupTimeoutMs(): number {
    return Math.max(this.options.timeoutMs, MIN_SETUP_TIMEOUT_MS);
  }

  private get logger(): Logger {
    return this.options.logger;
  }

  private classify(error: unknown, client: Client): McpCallError {
    if (error instanceof McpCallError) return error;
    if (error instanceof McpError) {
      if (error.code === Number(McpErrorCode.ConnectionClosed)) {
        void this.forget(client);
        return new McpCallError({ kind: 'connection-lost', detail: error.message });
      }
      return new McpCallError({ kind: 'protocol-error', detail: error.message });
    }
    // Not a JSON-RPC answer: the transport failed (refused, HTTP error, session gone). Start afresh next time.
    void this.forget(client);
    return new McpCallError({ kind: 'unavailable', detail: errorText(error) });
  }

  private async forget(client: Client): Promise<void> {
    const current = this.client;
    if (current === undefined) return;
    const open = await current.catch(() => undefined);
    if (open !== client) return;
    if (this.client === current) {
      this.client = undefined;
      this.tools = undefined;
    }
    await client.close().catch(() => undefined);
  }

  private async drop(): Promise<void> {
    const current = this.client;
    this.client = undefined;
    this.tools = undefined;
    const client = await current?.catch(() => undefined);
    await client?.close().catch(() => undefined);
  }
}

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 500);
}
