// `rivulet export`: streams one consistent snapshot of an installation into a JSON-lines file (format.ts). The file
// is written under a temporary name beside the target and renamed at the end, so a failed export leaves no file that
// looks complete.

import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { canonicalJson } from './canonical-json.ts';
import { FORMAT_NAME, FORMAT_VERSION, RECORD_KINDS, type ExportHeader, type RecordCounts } from './format.ts';
import type { TransferSource } from './transfer-backend.ts';
import { TransferError } from './transfer-error.ts';

export interface ExportOptions {
  /** Called as records are written: how many so far, of how many. */
  onProgress?: (done: number, total: number) => void;
  /** Replace an existing file (default: refuse). */
  overwrite?: boolean;
  /** The header's exportedAt (tests). */
  now?: Date;
}

export interface ExportSummary {
  counts: RecordCounts;
  bytes: number;
}

/** Bytes gathered before each write to the file. */
const WRITE_BUFFER_BYTES = 1024 * 1024;

export async function exportInstallation(
  source: TransferSource,
  path: string,
  options: ExportOptions = {},
): Promise<ExportSummary> {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.partial`);
  if (options.overwrite !== true && (await exists(path))) {
    throw new TransferError(
      'refused',
      `${path} exists already: choose another file, or pass --force to replace it.`,
    );
  }
  const file = await open(temporary, 'wx');
  try {
    const summary = await source.snapshot(async (snapshot) => {
      const counts = await snapshot.counts();
      const header: ExportHeader = {
        format: FORMAT_NAME,
        version: FORMAT_VERSION,
        exportedAt: (options.now ?? new Date()).toISOString(),
        source: { backend: source.backend, schema: snapshot.schemaVersion },
        counts,
      };
      const total = RECORD_KINDS.reduce((sum, kind) => sum + counts[kind], 0);
      let bytes = 0;
      let buffer: string[] = [];
      let buffered = 0;
      const flush = async (): Promise<void> => {
        const data = buffer.join('');
        buffer = [];
        buffered = 0;
        await file.write(data);
      };
      const append = async (line: string): Promise<void> => {
        buffer.push(line, '\n');
        buffered += line.length + 1;
        bytes += Buffer.byteLength(line) + 1;
        if (buffered >= WRITE_BUFFER_BYTES) await flush();
      };

      await append(JSON.stringify(header));
      const written = Object.fromEntries(RECORD_KINDS.map((kind) => [kind, 0])) as RecordCounts;
      let done = 0;
      for await (const record of snapshot.records()) {
        await append(canonicalJson(record));
        written[record.kind] += 1;
        done += 1;
        if (done % 500 === 0) options.onProgress?.(done, total);
      }
      await append(canonicalJson({ kind: 'end' }));
      await flush();
      options.onProgress?.(done, total);
      // The snapshot is one transaction, so this holds; if it ever did not, the header would lie to import.
      const differing = RECORD_KINDS.filter((kind) => written[kind] !== counts[kind]);
      if (differing.length > 0) {
        throw new Error(`export: counted and written records differ for ${differing.join(', ')}`);
      }
      return { counts, bytes };
    });
    await file.sync();
    await file.close();
    await rename(temporary, path);
    return summary;
  } catch (error) {
    await file.close().catch(() => {});
    await rm(temporary, { force: true });
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}
