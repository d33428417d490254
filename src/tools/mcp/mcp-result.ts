// An MCP tool result as the model reads it (text) and as events keep it (output).

import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

type ContentBlock = CallToolResult['content'][number];

function blockText(block: ContentBlock): string {
  switch (block.type) {
    case 'text':
      return block.text;
    case 'image':
      return `[image: ${block.mimeType}]`;
    case 'audio':
      return `[audio: ${block.mimeType}]`;
    case 'resource_link':
      return `[resource: ${block.uri}]`;
    case 'resource':
      return 'text' in block.resource && typeof block.resource.text === 'string'
        ? block.resource.text
        : `[resource: ${block.resource.uri}]`;
    default: {
      const unknown: never = block;
      return `[${String((unknown as { type: unknown }).type)}]`;
    }
  }
}

/**
 * The result's text (its content blocks joined, media named in brackets; the structured content as JSON when there is
 * no text) and its output (the structured content when there is some, else that text). Not yet capped.
 */
export function readCallToolResult(result: CallToolResult): {
  output: unknown;
  text: string;
  isError: boolean;
} {
  const text = result.content.map(blockText).join('\n');
  const structured = result.structuredContent;
  return {
    output: structured ?? text,
    text: text === '' && structured !== undefined ? JSON.stringify(structured) : text,
    isError: result.isError === true,
  };
}
