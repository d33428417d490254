// The tool registry: each chatbot's tool set, over MCP connections shared by every chatbot and answer that names the
// same server settings, closed at shutdown.

import { toolsEnabled, type Chatbot, type McpServerConfig } from '../core/chatbots.ts';
import type { Logger } from '../core/logger.ts';
import type { AgentSetup, ToolRegistry, ToolSet } from '../core/tools.ts';
import { InputValidator } from './input-validator.ts';
import { McpConnection } from './mcp/mcp-connection.ts';
import { ComposedToolSet, type ToolLimits } from './tool-set.ts';

export interface ToolRegistryOptions {
  logger: Logger;
  /** TOOL_TIMEOUT_MS and TOOL_RESULT_MAX_CHARS: for MCP servers that set none of their own. */
  defaults: ToolLimits;
  /** Told to MCP servers in the handshake. */
  clientVersion?: string;
}

/** Settings that make two servers the same connection, in a stable order. */
function connectionKey(server: McpServerConfig): string {
  const sorted = (record: Record<string, string>) =>
    Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify(
    server.transport === 'stdio'
      ? ['stdio', server.name, server.command, server.args, sorted(server.env), server.timeoutMs]
      : ['http', server.name, server.url, sorted(server.headers), server.timeoutMs],
  );
}

export class McpToolRegistry implements ToolRegistry {
  private readonly options: ToolRegistryOptions;
  private readonly connections = new Map<string, McpConnection>();
  private readonly validator = new InputValidator();
  private closed = false;

  constructor(options: ToolRegistryOptions) {
    this.options = options;
  }

  agentSetup(chatbot: Chatbot): AgentSetup | undefined {
    const { tools } = chatbot;
    if (!toolsEnabled(tools)) return undefined;
    return {
      searchDocuments: tools.searchDocuments,
      maxSteps: tools.maxSteps,
      ...(tools.mcpServers.length > 0 ? { tools: this.toolSet(chatbot) } : {}),
    };
  }

  /** The chatbot's MCP tools (allowedTools applied), over the shared connections. */
  toolSet(chatbot: Chatbot): ToolSet {
    const { defaults, logger } = this.options;
    return new ComposedToolSet({
      servers: chatbot.tools.mcpServers.map((server) => ({
        connection: this.connection(server),
        limits: {
          timeoutMs: server.timeoutMs ?? defaults.timeoutMs,
          maxResultChars: server.maxResultChars ?? defaults.maxResultChars,
        },
      })),
      allowedTools: chatbot.tools.allowedTools,
      validator: this.validator,
      logger,
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const connections = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(connections.map((connection) => connection.close()));
  }

  private connection(server: McpServerConfig): McpConnection {
    const key = connectionKey(server);
    let connection = this.connections.get(key);
    if (connection === undefined) {
      connection = new McpConnection({
        server,
        timeoutMs: server.timeoutMs ?? this.options.defaults.timeoutMs,
        logger: this.options.logger,
        clientVersion: this.options.clientVersion ?? '0.1.0',
      });
      // After close, a late answer gets a connection that refuses (closed) instead of one nobody will close.
      if (this.closed) void connection.close();
      else this.connections.set(key, connection);
    }
    return connection;
  }
}
