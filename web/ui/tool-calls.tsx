// An agent answer's tool calls, shown as they stream: one compact, collapsible row per call ("Searched documents for
// ...", "Called <tool>"), with its input as the model writes it and, once the tool ran, its result or coded error.

import type { VNode } from 'preact';
import type { UiToolCall } from '../client/session.ts';

/** The longest input or result shown in a row's details; the rest is cut with an ellipsis. */
const MAX_SHOWN_CHARS = 2000;

function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value, null, 2) ?? '');
  return text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}…` : text;
}

/** The query of a search_documents call, as far as it is written (its JSON may still be incomplete). */
function searchQuery(call: UiToolCall): string {
  if (typeof call.input === 'object' && call.input !== null && 'query' in call.input) {
    return String(call.input.query);
  }
  return /"query"\s*:\s*"((?:[^"\\]|\\.)*)/.exec(call.inputText)?.[1] ?? '';
}

function summary(call: UiToolCall): string {
  const writing = call.state === 'writing';
  if (call.name === 'search_documents') {
    const query = searchQuery(call);
    const verb =
      call.state === 'done' || call.state === 'failed' ? 'Searched documents' : 'Searching documents';
    return query === '' ? `${verb}…` : `${verb} for “${query}”${writing ? '…' : ''}`;
  }
  // MCP tools are named <server>__<tool>.
  const name = call.name.replace('__', ' › ');
  return call.state === 'done' || call.state === 'failed' ? `Called ${name}` : `Calling ${name}…`;
}

function resultCount(call: UiToolCall): string | null {
  const output = call.output;
  if (call.name !== 'search_documents' || typeof output !== 'object' || output === null) return null;
  const results = (output as { results?: unknown[] }).results;
  return Array.isArray(results) ? `${results.length} passage${results.length === 1 ? '' : 's'}` : null;
}

export function ToolCalls({ calls }: { calls: readonly UiToolCall[] }): VNode {
  return (
    <ol class="rv-tools" aria-label="Steps">
      {calls.map((call) => {
        const count = resultCount(call);
        return (
          <li
            key={call.toolCallId}
            class={`rv-tool rv-tool-${call.state}`}
            data-state={call.state}
            data-tool={call.name}
          >
            <details>
              <summary>
                {call.state === 'writing' || call.state === 'running' ? (
                  <span class="rv-spinner" aria-hidden="true" />
                ) : (
                  <span class="rv-tool-mark" aria-hidden="true">
                    {call.state === 'done' ? '✓' : '!'}
                  </span>
                )}
                <span class="rv-tool-summary">{summary(call)}</span>
                {count === null ? null : <span class="rv-tool-count">{count}</span>}
                {call.error === undefined ? null : <span class="rv-code-tag">{call.error.code}</span>}
              </summary>
              <div class="rv-tool-body">
                <p class="rv-tool-label">Input</p>
                <pre>{shown(call.input ?? call.inputText)}</pre>
                {call.state === 'done' ? (
                  <>
                    <p class="rv-tool-label">Result</p>
                    <pre>{shown(call.output)}</pre>
                  </>
                ) : null}
                {call.error === undefined ? null : <p class="rv-tool-error">{call.error.message}</p>}
              </div>
            </details>
          </li>
        );
      })}
    </ol>
  );
}
