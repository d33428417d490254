// One answer's MCP tools: its chatbot's servers' tools listed under provider-safe names, called with input checked,
// time limited, results capped, and every failure turned into an outcome the model reads.

import type { ErrorCode } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { ToolDefinition } from '../core/provider.ts';
import type { ToolCallOptions, ToolOutcome, ToolSet } from '../core/tools.ts';
import type { InputValidator } from './input-validator.ts';
import { McpCallError, type McpConnection } from './mcp/mcp-connection.ts';
import { readCallToolResult } from './mcp/mcp-result.ts';
import { capResultText } from './result-text.ts';
import { exposedToolName } from './tool-names.ts';

export interface ToolLimits {
  timeoutMs: number;
  maxResultChars: number;
}

export interface McpServerTools {
  connection: McpConnection;
  limits: ToolLimits;
}

export interface ToolSetParts {
  servers: readonly McpServerTools[];
  /** Tools offered, by exposed name; null: all. */
  allowedTools: readonly string[] | null;
  validator: InputValidator;
  logger: Logger;
}

interface Target {
  definition: ToolDefinition;
  server: McpServerTools;
  /** The name the server knows it by. */
  toolName: string;
}

/** Longest tool description sent to a model: a server's own text, kept from crowding out the prompt. */
const MAX_DESCRIPTION = 2000;

export class ComposedToolSet implements ToolSet {
  private readonly parts: ToolSetParts;
  private targets: Promise<Map<string, Target>> | undefined;

  constructor(parts: ToolSetParts) {
    this.parts = parts;
  }

  async list(signal: AbortSignal): Promise<ToolDefinition[]> {
    // Each answer's set lists again, from the connections' caches: a refreshed server list shows up in the next step.
    this.targets = this.resolve();
    const targets = await untilAborted(this.targets, signal);
    return [...targets.values()].map((target) => target.definition);
  }

  async call(name: string, input: unknown, options: ToolCallOptions): Promise<ToolOutcome> {
    options.signal.throwIfAborted();
    this.targets ??= this.resolve();
    const targets = await untilAborted(this.targets, options.signal);
    const target = targets.get(name);
    if (target === undefined) {
      return failure(
        'TOOL_NOT_FOUND',
        `No tool is named "${name.slice(0, 100)}". Tools: ${[...targets.keys()].join(', ') || 'none'}.`,
      );
    }
    const check = this.parts.validator.check(target.definition.inputSchema, input);
    if (!check.ok) return failure('TOOL_INPUT_INVALID', `Invalid input for ${name}: ${check.problems}.`);
    const started = Date.now();
    const outcome = await this.callMcp(target, input as Record<string, unknown>, options);
    const fields = {
      tool: name,
      toolCallId: options.toolCallId,
      ms: Date.now() - started,
      outcome: outcome.ok ? 'ok' : outcome.code,
    };
    if (outcome.ok) this.parts.logger.debug?.(fields, 'tool call');
    else this.parts.logger.warn(fields, 'tool call failed');
    return outcome;
  }

  private async resolve(): Promise<Map<string, Target>> {
    const { servers, allowedTools, logger } = this.parts;
    const targets = new Map<string, Target>();
    const lists = await Promise.all(
      servers.map(async (server) => {
        try {
          return await server.connection.listTools();
        } catch (error) {
          // One unreachable server must not take the chatbot's other tools, or its answer, with it.
          logger.warn(
            {
              mcpServer: server.connection.server.name,
              error: error instanceof Error ? error.message : String(error),
            },
            'MCP server unavailable: its tools are left out of this answer',
          );
          return [];
        }
      }),
    );
    const allowed = allowedTools === null ? null : new Set(allowedTools);
    servers.forEach((server, index) => {
      for (const tool of lists[index] ?? []) {
        const name = exposedToolName(server.connection.server.name, tool.name, new Set(targets.keys()));
        if (allowed !== null && !allowed.has(name)) continue;
        const description = (tool.description ?? tool.title ?? tool.name).slice(0, MAX_DESCRIPTION);
        targets.set(name, {
          definition: { name, description, inputSchema: tool.inputSchema },
          server,
          toolName: tool.name,
        });
      }
    });
    return targets;
  }

  private async callMcp(
    target: Target,
    input: Record<string, unknown>,
    options: ToolCallOptions,
  ): Promise<ToolOutcome> {
    const { connection, limits } = target.server;
    try {
      const result = readCallToolResult(await connection.callTool(target.toolName, input, options.signal));
      if (result.isError) {
        return failure(
          'TOOL_FAILED',
          `The tool ${target.definition.name} reported an error.`,
          capResultText(result.text, limits.maxResultChars),
        );
      }
      return success(result, limits.maxResultChars);
    } catch (error) {
      options.signal.throwIfAborted();
      if (!(error instanceof McpCallError)) throw error;
      const failed = error.failure;
      switch (failed.kind) {
        case 'timeout':
          return failure(
            'TOOL_TIMEOUT',
            `The tool ${target.definition.name} did not answer within ${limits.timeoutMs} ms and was cancelled.`,
          );
        case 'unavailable':
          return failure(
            'MCP_SERVER_UNAVAILABLE',
            `The MCP server of ${target.definition.name} cannot be reached.`,
          );
        case 'connection-lost':
          return failure(
            'TOOL_FAILED',
            `The MCP server of ${target.definition.name} stopped while the tool ran.`,
          );
        case 'protocol-error':
          // A JSON-RPC error from the server (unknown tool, invalid params): its text helps the model.
          return failure(
            'TOOL_FAILED',
            `The tool ${target.definition.name} failed.`,
            capResultText(failed.detail, limits.maxResultChars),
          );
        default: {
          const unknown: never = failed;
          throw new Error(`unhandled MCP failure ${String(unknown)}`, { cause: error });
        }
      }
    }
  }
}

/** A result capped for the model; output too large for events is replaced by the capped text. */
function success(result: { output: unknown; text: string }, maxResultChars: number): ToolOutcome {
  const text = capResultText(result.text, maxResultChars);
  const outputSize =
    typeof result.output === 'string' ? result.output.length : (JSON.stringify(result.output)?.length ?? 0);
  return { ok: true, output: outputSize > maxResultChars ? text : result.output, text };
}

function failure(code: ErrorCode, message: string, toolText?: string): ToolOutcome {
  return toolText === undefined || toolText === ''
    ? { ok: false, code, message }
    : { ok: false, code, message, toolText };
}

/** The promise, or the signal's reason as soon as it aborts (a slow handshake is not waited for by a stopped answer). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}
