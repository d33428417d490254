// A log entry whose JSON is let go once the readers of the moment have been sent it, and made again from its event for
// any later delivery (a resume, a reader that fell behind). For the `sources` event: its JSON, several KB of snippets,
// would be a copy of its own for as long as the answer streams, while the event's sources share their titles and
// snippets with every answer citing the same chunks (src/core/prompt.ts keeps them per chunk).

import { encodeEvent, type RunEvent } from '../../core/events.ts';
import type { LogEntry } from '../../core/run-hub.ts';

export class ReencodedEntry implements LogEntry {
  readonly event: RunEvent;
  #json: string | undefined;

  constructor(event: RunEvent, json: string) {
    this.event = event;
    this.#json = json;
  }

  /** The JSON as appended: kept, or encoded again (the same bytes: the event is never changed once appended). */
  get json(): string {
    return this.#json ?? encodeEvent(this.event);
  }

  get holdsJson(): boolean {
    return this.#json !== undefined;
  }

  release(): void {
    this.#json = undefined;
  }
}
