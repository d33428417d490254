// Tool names as models see them: `<server>__<tool>`, cut to what every provider accepts (^[a-zA-Z0-9_-]{1,64}$).

import { createHash } from 'node:crypto';

/** The pattern OpenAI, Anthropic and Ollama all accept for a tool name. */
export const TOOL_NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;

const MAX_NAME = 64;

/**
 * The name the model sees for `tool` of MCP server `server`: characters outside [a-zA-Z0-9_-] become `_`; a name
 * longer than 64 characters, or one already `taken` (two tools that sanitize alike), keeps a prefix and gets a short
 * hash of the original name, so it stays stable across tool-list refreshes.
 */
export function exposedToolName(server: string, tool: string, taken: ReadonlySet<string>): string {
  const plain = `${server}__${tool}`.replace(/[^a-zA-Z0-9_-]/g, '_');
  if (plain.length <= MAX_NAME && !taken.has(plain)) return plain;
  const hash = createHash('sha256').update(`${server}\0${tool}`).digest('hex').slice(0, 8);
  return `${plain.slice(0, MAX_NAME - hash.length - 1)}_${hash}`;
}
