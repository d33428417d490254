// `rivulet export <file>` and `rivulet import <file>`: move a whole installation between SQLite and PostgreSQL (or to
// another machine) through one JSON-lines file (docs/export-import.md), with a progress bar on a terminal.

import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Presets, SingleBar } from 'cli-progress';
import type { Config } from '../config.ts';
import { describeStoreLocation } from '../stores/open-stores.ts';
import { exportInstallation } from '../stores/transfer/export.ts';
import type { RecordCounts } from '../stores/transfer/format.ts';
import { importInstallation } from '../stores/transfer/import.ts';
import { openTransfer } from '../stores/transfer/open-transfer.ts';
import { TransferError } from '../stores/transfer/transfer-error.ts';

export const EXPORT_USAGE = `Usage: rivulet export <file> [--force] [--quiet]

Writes the whole installation (DATABASE_URL's database, or the SQLite file under DATA_DIR) to <file>: collections,
chatbots, API keys (their hashes, never the keys), token usage, documents with their chunks and vectors, and
conversations with every message. The answer cache is not exported (it refills). Stop the server first, or export
while it runs: the file is one consistent snapshot either way. See docs/export-import.md.

Options:
  --force   replace <file> if it exists
  --quiet   no progress bar

Exit status: 0 when the file was written, 1 when it was not, 2 for bad usage.`;

export const IMPORT_USAGE = `Usage: rivulet import <file> [--quiet]

Reads an export (rivulet export) into this installation (DATABASE_URL's database, or the SQLite file under DATA_DIR),
which must be new: no documents, conversations, API keys or chatbots besides the default one. Ids are kept, so stored
sources still point at their documents. The keyword index is rebuilt; vectors are kept where vector search is
available. All or nothing: a refused or broken file leaves the installation as it was. Stop the server first.

Options:
  --quiet   no progress bar

Exit status: 0 when everything was imported, 1 when nothing was (the message says why), 2 for bad usage.`;

export function exportCommand(args: string[], config: Config): Promise<number> {
  return transferCommand(
    args,
    EXPORT_USAGE,
    { force: { type: 'boolean', default: false } },
    async (file, values) => {
      const backend = await openTransfer(config);
      const bar = progressBar(values.quiet === true, 'exporting');
      try {
        const summary = await exportInstallation(backend, file, {
          overwrite: values.force === true,
          onProgress: (done, total) => {
            bar?.setTotal(total);
            bar?.update(done);
          },
        });
        bar?.stop();
        console.log(
          `Exported ${describeCounts(summary.counts)} from ${describeStoreLocation(config)} to ${file} ` +
            `(${megabytes(summary.bytes)}).`,
        );
        return 0;
      } finally {
        bar?.stop();
        await backend.close();
      }
    },
  );
}

export function importCommand(args: string[], config: Config): Promise<number> {
  return transferCommand(args, IMPORT_USAGE, {}, async (file, values) => {
    // Before opening the target, which would create (and migrate) an installation for a mistyped file name.
    await access(file, constants.R_OK);
    const backend = await openTransfer(config);
    const bar = progressBar(values.quiet === true, 'importing');
    try {
      const summary = await importInstallation(backend, file, {
        onProgress: (done, total) => {
          bar?.setTotal(total);
          bar?.update(done);
        },
      });
      bar?.stop();
      for (const warning of summary.warnings) console.error(warning);
      console.log(
        `Imported ${describeCounts(summary.counts)} into ${describeStoreLocation(config)} ` +
          `(exported from ${summary.header.source.backend} at ${summary.header.exportedAt}).`,
      );
      return 0;
    } finally {
      bar?.stop();
      await backend.close();
    }
  });
}

type ExtraOptions = Record<string, { type: 'boolean'; default: boolean }>;

/** Parses `<file> [options]`, runs `work`, and turns a refusal into its message and exit status 1. */
async function transferCommand(
  args: string[],
  usage: string,
  extra: ExtraOptions,
  work: (file: string, values: Record<string, string | boolean | undefined>) => Promise<number>,
): Promise<number> {
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ...extra,
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  if (parsed.values.help === true) {
    console.log(usage);
    return 0;
  }
  const [file, ...more] = parsed.positionals;
  if (file === undefined || more.length > 0) {
    console.error(`${file === undefined ? 'Name the file.' : 'Name one file.'}\n\n${usage}`);
    return 2;
  }
  try {
    return await work(file, parsed.values);
  } catch (error) {
    if (error instanceof TransferError) {
      console.error(error.message);
      return 1;
    }
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
      console.error(`${file}: ${(error as Error).message}`);
      return 1;
    }
    throw error;
  }
}

/** A bar on stderr when it is a terminal (and not --quiet): nothing in scripts, pipes and logs. */
function progressBar(quiet: boolean, action: string): SingleBar | undefined {
  if (quiet || !process.stderr.isTTY) return undefined;
  const bar = new SingleBar(
    { format: ` ${action} {bar} {value}/{total} records`, hideCursor: true, stream: process.stderr },
    Presets.shades_classic,
  );
  bar.start(0, 0);
  return bar;
}

function describeCounts(counts: RecordCounts): string {
  const parts = [
    `${counts.document} documents (${counts.chunk} chunks)`,
    `${counts.chatbot} chatbots`,
    `${counts['api-key']} API keys`,
    `${counts.conversation} conversations (${counts.message} messages)`,
    `${counts['token-usage']} token usage records`,
  ];
  return parts.join(', ');
}

function megabytes(bytes: number): string {
  return bytes < 1024 * 1024 ? `${Math.ceil(bytes / 1024)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
