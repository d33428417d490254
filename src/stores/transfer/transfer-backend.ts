// What export and import need of a backend: read one consistent snapshot as records in file order, and write
// batches of records into an empty installation inside one transaction. Each backend is one file beside this one.

import type { Backend, ExportRecord, RecordBatch, RecordCounts } from './format.ts';

export interface SourceSnapshot {
  /** The backend's schema version (its migrations applied), for the header. */
  readonly schemaVersion: number;
  /** Records of each kind the snapshot holds. */
  counts(): RecordCounts | Promise<RecordCounts>;
  /** Every record, parents before children, each kind in a stable order (see docs/export-import.md). */
  records(): AsyncIterable<ExportRecord> | Iterable<ExportRecord>;
}

export interface TransferSource {
  readonly backend: Backend;
  /** Runs `work` over one consistent snapshot: writes by a running server meanwhile are not half-seen. */
  snapshot<T>(work: (snapshot: SourceSnapshot) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** What the target already holds that an import would collide with (the auto-created default chatbot is not counted). */
export interface TargetContents {
  documents: number;
  chatbots: number;
  conversations: number;
  apiKeys: number;
  tokenUsage: number;
}

/** A backend may answer synchronously (SQLite) or not (PostgreSQL): import awaits either. */
export interface TargetWriter {
  contents(): TargetContents | Promise<TargetContents>;
  write(batch: RecordBatch): void | Promise<void>;
  /** After the last batch: what was left out, for the summary. */
  finish(): { warnings: string[] } | Promise<{ warnings: string[] }>;
}

export interface TransferTarget {
  readonly backend: Backend;
  /** False when the target cannot store vectors (no sqlite-vec, no pgvector): chunks go in without them. */
  readonly vectors: { available: boolean; error?: string };
  /** Runs `work` in one transaction: committed when it resolves, rolled back (nothing left behind) when it throws. */
  transaction<T>(work: (writer: TargetWriter) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
