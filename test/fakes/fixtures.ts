// Loads the provider responses recorded from public docs under fixtures/ and turns them into replay scenarios.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FakeScenario } from './fake-upstream.ts';

export type FixtureName =
  | 'ollama-chat-stream'
  | 'ollama-chat'
  | 'anthropic-messages-stream'
  | 'anthropic-stream-error'
  | 'anthropic-message'
  | 'openai-chat-stream'
  | 'openai-chat-stream-tool-calls'
  | 'anthropic-messages-stream-tool-use'
  | 'ollama-chat-stream-tool-calls';

/** What the adapter must make of the fixture: the answer, or the code it fails with. */
export type FixtureExpectation =
  | {
      text: string;
      usage: { inputTokens: number; outputTokens: number } | null;
      finishReason: string;
      /** The complete calls, in order (ids vary: Ollama sends none). */
      toolCalls?: { name: string; inputText: string }[];
    }
  | { error: string };

interface FixtureFile {
  source: string;
  contentType: string;
  /** One JSON value per line. */
  ndjson?: unknown[];
  /** SSE events; a string `data` is sent as it is ([DONE]), anything else as JSON. */
  sse?: { event?: string; data: unknown }[];
  /** One whole JSON body. */
  json?: unknown;
  expected: FixtureExpectation;
}

function serialise(fixture: FixtureFile): string {
  if (fixture.ndjson !== undefined) return fixture.ndjson.map((line) => `${JSON.stringify(line)}\n`).join('');
  if (fixture.sse !== undefined) {
    return fixture.sse
      .map(({ event, data }) => {
        const payload = typeof data === 'string' ? data : JSON.stringify(data);
        return `${event === undefined ? '' : `event: ${event}\n`}data: ${payload}\n\n`;
      })
      .join('');
  }
  return JSON.stringify(fixture.json);
}

/** A scenario that makes the fake answer with the fixture's exact bytes, and what the adapter should read. */
export function loadFixture(name: FixtureName): {
  scenario: FakeScenario;
  body: string;
  expected: FixtureExpectation;
} {
  const fixture = JSON.parse(
    readFileSync(join(import.meta.dirname, 'fixtures', `${name}.json`), 'utf8'),
  ) as FixtureFile;
  const body = serialise(fixture);
  return {
    scenario: { replay: { contentType: fixture.contentType, body } },
    body,
    expected: fixture.expected,
  };
}
