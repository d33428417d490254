// `rivulet import`: streams an export file (format.ts) into an empty installation, in batches, inside one
// transaction of the target: a refused or broken file leaves the target as it was. Memory holds one batch of records,
// never the file.

import { createReadStream } from 'node:fs';
import type { z } from 'zod';
import {
  FORMAT_NAME,
  FORMAT_VERSION,
  RECORD_KINDS,
  RECORD_SCHEMAS,
  emptyCounts,
  endSchema,
  headerSchema,
  isRecordKind,
  versionProbeSchema,
  type ExportHeader,
  type ExportRecord,
  type RecordBatch,
  type RecordCounts,
  type RecordKind,
} from './format.ts';
import { numberedLines, type NumberedLine } from './jsonl-lines.ts';
import type { TargetContents, TransferTarget } from './transfer-backend.ts';
import { TransferError } from './transfer-error.ts';

export interface ImportOptions {
  /** Records per batch (one multi-row insert on PostgreSQL). */
  batchSize?: number;
  /** Called after each batch: records imported so far, of how many the header announces. */
  onProgress?: (done: number, total: number) => void;
}

export interface ImportSummary {
  header: ExportHeader;
  counts: RecordCounts;
  /** What was left out (vectors the target cannot store), to tell the user. */
  warnings: string[];
}

export const DEFAULT_BATCH_SIZE = 500;

export async function importInstallation(
  target: TransferTarget,
  path: string,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const lines = numberedLines(createReadStream(path, { highWaterMark: 1024 * 1024 }))[Symbol.asyncIterator]();
  try {
    const header = await readHeader(lines, path);
    const total = RECORD_KINDS.reduce((sum, kind) => sum + header.counts[kind], 0);
    return await target.transaction(async (writer) => {
      refuseUnlessEmpty(await writer.contents());
      const counts = emptyCounts();
      let done = 0;
      let batch: { kind: RecordKind; records: ExportRecord[]; firstLine: number } | undefined;
      const flush = async (): Promise<void> => {
        if (batch === undefined) return;
        const { kind, records, firstLine } = batch;
        batch = undefined;
        try {
          await writer.write({ kind, records } as RecordBatch);
        } catch (error) {
          throw atLines(error, firstLine, firstLine + records.length - 1);
        }
        counts[kind] += records.length;
        done += records.length;
        options.onProgress?.(done, total);
      };

      let rank = 0;
      let ended = false;
      for (let next = await lines.next(); !next.done; next = await lines.next()) {
        const line = next.value;
        if (ended) throw malformed(line, 'a line after the end record');
        const value = parseLine(line);
        if (endSchema.safeParse(value).success) {
          ended = true;
          continue;
        }
        const record = parseRecord(line, value);
        const kindRank = RECORD_KINDS.indexOf(record.kind);
        if (kindRank < rank) {
          throw malformed(
            line,
            `a ${record.kind} record after ${RECORD_KINDS[rank]} records (parents come first)`,
          );
        }
        rank = kindRank;
        if (
          batch !== undefined &&
          (batch.kind !== record.kind || batch.records.length >= batchSize(options))
        ) {
          await flush();
        }
        batch ??= { kind: record.kind, records: [], firstLine: line.number };
        batch.records.push(record);
      }
      if (!ended) {
        throw new TransferError(
          'malformed',
          `${path} ends without its end record: it is truncated (an export cut short, or a partial copy). ` +
            'Nothing was imported.',
        );
      }
      await flush();
      const differing = RECORD_KINDS.filter((kind) => counts[kind] !== header.counts[kind]);
      if (differing.length > 0) {
        const detail = differing
          .map((kind) => `${kind}: ${counts[kind]} of ${header.counts[kind]}`)
          .join(', ');
        throw new TransferError(
          'malformed',
          `${path} does not hold the records its header counts (${detail}).`,
        );
      }
      const { warnings } = await writer.finish();
      return { header, counts, warnings };
    });
  } finally {
    await lines.return?.(undefined);
  }
}

/** The first line: an export header of a version this code reads. */
async function readHeader(lines: AsyncIterator<NumberedLine>, path: string): Promise<ExportHeader> {
  const first = await lines.next();
  if (first.done === true)
    throw new TransferError('malformed', `${path} is empty: it is not a Rivulet export.`);
  const value = parseLine(first.value);
  const probe = versionProbeSchema.safeParse(value);
  if (!probe.success || probe.data.format !== FORMAT_NAME) {
    throw new TransferError(
      'unsupported',
      `${path} is not a Rivulet export: its first line is not a "${FORMAT_NAME}" header.`,
    );
  }
  if (probe.data.version > FORMAT_VERSION) {
    throw new TransferError(
      'unsupported',
      `${path} is export format version ${probe.data.version}; this Rivulet reads versions up to ` +
        `${FORMAT_VERSION}. Import it with a Rivulet release that reads version ${probe.data.version} (or newer).`,
    );
  }
  const header = headerSchema.safeParse(value);
  if (!header.success) throw malformed(first.value, `not a valid header: ${describeIssues(header.error)}`);
  return header.data;
}

function parseLine(line: NumberedLine): unknown {
  try {
    return JSON.parse(line.text);
  } catch (error) {
    const hint = line.terminated ? '' : ' (the file ends in the middle of this line: it is truncated)';
    throw malformed(line, `not valid JSON${hint}: ${(error as Error).message}`);
  }
}

function parseRecord(line: NumberedLine, value: unknown): ExportRecord {
  const kind = (value as { kind?: unknown } | null)?.kind;
  if (!isRecordKind(kind)) {
    throw malformed(line, `not a record: its "kind" is ${JSON.stringify(kind) ?? 'missing'}`);
  }
  const result = RECORD_SCHEMAS[kind].safeParse(value);
  if (!result.success) throw malformed(line, `not a valid ${kind} record: ${describeIssues(result.error)}`);
  return result.data;
}

function refuseUnlessEmpty(contents: TargetContents): void {
  const held = [
    [contents.documents, 'documents'],
    [contents.chatbots, 'chatbots besides the default one'],
    [contents.conversations, 'conversations'],
    [contents.apiKeys, 'API keys'],
    [contents.tokenUsage, 'token usage records'],
  ] as const;
  const found = held.filter(([count]) => count > 0).map(([count, what]) => `${count} ${what}`);
  if (found.length === 0) return;
  // Documents alone are most often the sample guide a server's first start ingests (SAMPLE_CORPUS).
  const onlyDocuments = found.length === 1 && contents.documents > 0;
  throw new TransferError(
    'not-empty',
    `The installation to import into is not empty: it holds ${found.join(', ')}. Import into a new installation ` +
      '(an empty DATA_DIR or database) before a server first starts there.' +
      (onlyDocuments
        ? ' If they are the sample guide a first start added, `rivulet documents delete --all --yes` removes them.'
        : '') +
      ' Nothing was imported.',
  );
}

function batchSize(options: ImportOptions): number {
  return options.batchSize ?? DEFAULT_BATCH_SIZE;
}

function malformed(line: NumberedLine, problem: string): TransferError {
  return new TransferError('malformed', `line ${line.number}: ${problem}. Nothing was imported.`);
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => (issue.path.length === 0 ? issue.message : `${issue.path.join('.')}: ${issue.message}`))
    .join('; ');
}

/** A backend's error for a batch, with the lines it came from (the database does not know them). */
function atLines(error: unknown, first: number, last: number): Error {
  const where = first === last ? `line ${first}` : `lines ${first}-${last}`;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof TransferError) {
    return new TransferError(error.failure, `${where}: ${message}. Nothing was imported.`, { cause: error });
  }
  return new TransferError('inconsistent', `${where}: ${message}. Nothing was imported.`, { cause: error });
}
