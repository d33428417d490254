// The tools an agent step may call: the set the loop lists and calls, the outcome of a call the model reads, and the
// registry that builds a chatbot's tools from its settings (src/tools/ implements it over MCP).

import type { Chatbot } from './chatbots.ts';
import type { ToolDefinition } from './provider.ts';

/** What a tool call came to: what the model reads, or a coded error the model reads too. */
export type ToolOutcome =
  | {
      ok: true;
      /** The result as data (an MCP tool's structured content, or its text), for events and stored steps. */
      output: unknown;
      /** What the model reads: the result as text, cut at the tool's result cap with a `[truncated: ...]` marker. */
      text: string;
    }
  | {
      ok: false;
      /** A code of src/core/errors.ts (TOOL_NOT_FOUND, TOOL_INPUT_INVALID, TOOL_TIMEOUT, TOOL_FAILED, ...). */
      code: string;
      /** Safe to show to end users: names the tool, never quotes the tool's own error text. */
      message: string;
      /**
       * The tool's own error text (an MCP result with `isError`, a JSON-RPC error), capped like a result: the model
       * reads it after the error so it can correct its input; events and browsers do not get it.
       */
      toolText?: string;
    };

export interface ToolCallOptions {
  /** Aborting it cancels the running call (an MCP request is cancelled on its server); `call` then rejects with it. */
  signal: AbortSignal;
  /** The model's id for this call, for logs. */
  toolCallId: string;
}

/** Tools from outside the pipeline (MCP servers): listed for the model, called by name. */
export interface ToolSet {
  /**
   * What the model may call (names match ^[a-zA-Z0-9_-]{1,64}$). Tools of a server that cannot be reached are left
   * out (and logged); rejects only with the signal's reason.
   */
  list(signal: AbortSignal): Promise<ToolDefinition[]>;
  /**
   * Calls one tool. Resolves with an outcome for every failure of the tool (unknown name, input against its schema,
   * timeout, a crash, an unreachable server); rejects only with the signal's reason, after cancelling the call.
   */
  call(name: string, input: unknown, options: ToolCallOptions): Promise<ToolOutcome>;
}

/** A chatbot's agent settings for one answer; undefined (no tools) keeps the one-call pipeline. */
export interface AgentSetup {
  /** Offer the built-in `search_documents` tool (instead of retrieving before the model is called). */
  searchDocuments: boolean;
  /** Model calls the answer may make (each followed by the tools it asked for). */
  maxSteps: number;
  /** Tools from MCP servers; undefined when none. */
  tools?: ToolSet;
}

/** Builds each chatbot's agent setup from its `tools` settings, over MCP connections it shares and closes. */
export interface ToolRegistry {
  /** undefined when the chatbot enables no tool. Cheap: MCP connections are shared and opened on first use. */
  agentSetup(chatbot: Chatbot): AgentSetup | undefined;
  /** Closes every MCP connection (stdio servers are stopped). */
  close(): Promise<void>;
}
