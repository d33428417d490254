// Agent tools: how long an MCP tool may run and how much of its result the model reads, unless its server says.

import { z } from 'zod';
import { integer } from './fields.ts';

export const toolsSchema = z.object({
  TOOL_TIMEOUT_MS: integer(30_000, 100),
  TOOL_RESULT_MAX_CHARS: integer(20_000, 100),
});
export type ToolsValues = z.infer<typeof toolsSchema>;

export interface ToolSettings {
  tools: {
    /** A tool call running longer ends with TOOL_TIMEOUT and is cancelled on its server. */
    timeoutMs: number;
    /** Characters of one tool result the model reads; the rest is cut with a `[truncated: ...]` marker. */
    maxResultChars: number;
  };
}

export function resolveTools(values: ToolsValues): ToolSettings {
  return { tools: { timeoutMs: values.TOOL_TIMEOUT_MS, maxResultChars: values.TOOL_RESULT_MAX_CHARS } };
}
