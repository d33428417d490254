// The names of everything the Redis run hub keeps in Redis, under one prefix (tests use their own).

/** Stream entry id of seq `seq`: ids are "0-<seq + 1>", so a reader's cursor is an id and XADD refuses a rewrite. */
export const entryId = (seq: number): string => `0-${seq + 1}`;

/** The seq of a stream entry id ("0-<seq + 1>"). */
export const seqOfEntryId = (id: string): number => Number(id.slice(id.indexOf('-') + 1)) - 1;

export class RedisKeys {
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** Hash: owner (instance id), ownerId (JSON principal), state, lastSeq, createdAt. */
  run(runId: string): string {
    return `${this.prefix}:run:${runId}`;
  }

  /** Stream: one entry per event, fields `seq` and `json`. */
  log(runId: string): string {
    return `${this.prefix}:run:${runId}:log`;
  }

  /** Hash: instance id -> readers of the run on that instance. */
  readers(runId: string): string {
    return `${this.prefix}:run:${runId}:readers`;
  }

  /** String with a short expiry, refreshed by the live instance: its heartbeat. */
  heartbeat(instanceId: string): string {
    return `${this.prefix}:instance:${instanceId}`;
  }

  /** Set: ids of the running runs an instance owns (what to end when it dies). */
  ownedRuns(instanceId: string): string {
    return `${this.prefix}:instance:${instanceId}:runs`;
  }

  /** Set: every instance id seen, live or dead. */
  instances(): string {
    return `${this.prefix}:instances`;
  }

  /** Pub/sub channel of one instance: "stop <runId>", "idle <runId>". */
  control(instanceId: string): string {
    return `${this.prefix}:control:${instanceId}`;
  }
}
