// `rivulet ingest <paths or globs>` and `rivulet documents [list|delete]`: manage the document collection from a
// terminal, with a progress bar and a summary.

import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { SingleBar, Presets } from 'cli-progress';
import pino from 'pino';
import { openDocumentStack } from '../app.ts';
import { DEFAULT_CHATBOT_ID } from '../core/chatbots.ts';
import type { Config } from '../config.ts';
import { expandPaths, isOutside, readFiles, sourceFor } from '../retrieval/file-sources.ts';
import { redactingLogger } from '../observability/log-redaction.ts';
import type { IngestSummary } from '../retrieval/ingest.ts';
import { openStores } from '../stores/open-stores.ts';
import type { Stores } from '../stores/stores.ts';

export const INGEST_USAGE = `Usage: rivulet ingest <paths or globs...> [options]

Adds files to a document collection. A directory means every supported file under it (txt, md, html, json,
jsonl, csv, pdf, docx). Unchanged files are skipped; changed ones replace their old chunks. Each file is stored
under its path relative to the base directory (what users see as the source, and what identifies it when it is
ingested again); a file outside the base under its path from the directory you named, never an absolute path.

Options:
  --collection <id>     collection to add to (default: "${DEFAULT_CHATBOT_ID}", the default chatbot's)
  --base <dir>          directory that sources are relative to (default: the current directory)
  --text-fields <a,b>   JSON/CSV records: fields that form the text (default: chosen automatically)
  --title-field <name>  JSON/CSV records: field that names a record
  --reembed             forget every stored vector (all collections) and the embedding space, then embed the
                        files named here with EMBEDDING_MODEL; documents not named have no vectors (keyword
                        search only) until they are ingested again
  --quiet               no progress bar

Exit status: 0 when every file went in (or was unchanged), 1 when some failed, 2 for bad usage.`;

export const DOCUMENTS_USAGE = `Usage: rivulet documents [list] [--collection <id>]
       rivulet documents delete <document id or source> [--collection <id>]
       rivulet documents delete --all [--collection <id>] [--yes]

--all deletes every document of the collection (default "${DEFAULT_CHATBOT_ID}"), the sample guide included. It asks
for confirmation on a terminal; elsewhere (scripts, pipes) it needs --yes.`;

export async function ingestCommand(args: string[], config: Config): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      collection: { type: 'string', default: DEFAULT_CHATBOT_ID },
      'text-fields': { type: 'string' },
      'title-field': { type: 'string' },
      base: { type: 'string' },
      reembed: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(INGEST_USAGE);
    return 0;
  }
  if (positionals.length === 0) {
    console.error(`Name at least one file, directory or glob.\n\n${INGEST_USAGE}`);
    return 2;
  }
  const root = resolve(process.cwd(), values.base ?? '.');
  if (!(await stat(root).catch(() => undefined))?.isDirectory()) {
    console.error(`--base ${values.base ?? '.'}: not a directory.`);
    return 2;
  }
  // Failed files are printed readably below; the log adds only errors, unless debug output was asked for.
  const logger = redactingLogger(
    pino(
      { level: ['debug', 'trace'].includes(config.logLevel) ? config.logLevel : 'error' },
      pino.destination(2),
    ),
  );
  const { stores, embedder, ingestor } = await openDocumentStack(config, logger);
  if (config.embedding !== undefined && !stores.vectors.available) {
    console.error(
      `Vector search is unavailable here (${stores.vectors.error}); ingesting without embeddings.`,
    );
  }
  try {
    if (values.reembed && embedder === undefined) {
      console.error('--reembed needs an embedding model: set EMBEDDING_PROVIDER and EMBEDDING_MODEL.');
      return 2;
    }
    const { files, unmatched, anchors } = await expandPaths(positionals, process.cwd());
    for (const arg of unmatched) console.error(`No files match "${arg}".`);
    if (files.length === 0) return unmatched.length > 0 ? 1 : 0;
    const outside = files.filter((file) => isOutside(file, root));
    if (outside.length > 0) {
      const example = sourceFor(outside[0]!, root, anchors.get(outside[0]!));
      console.error(
        `${outside.length} of the files are outside ${root}: each is stored under its path from the directory you ` +
          `named (such as "${example}"). Use --base to choose the directory sources are relative to.`,
      );
    }
    if (values.reembed) await stores.documents.dropVectors();
    const bar =
      values.quiet || !process.stderr.isTTY
        ? undefined
        : new SingleBar(
            { format: ' {bar} {value}/{total} files | {source}', hideCursor: true },
            Presets.shades_classic,
          );
    bar?.start(files.length, 0, { source: '' });
    const started = performance.now();
    const summary = await ingestor.ingestAll(
      readFiles(files, root, anchors),
      files.length,
      {
        collectionId: values.collection,
        ...(values['text-fields'] === undefined
          ? {}
          : { textFields: values['text-fields'].split(',').map((field) => field.trim()) }),
        ...(values['title-field'] === undefined ? {} : { titleField: values['title-field'] }),
      },
      (progress) => {
        if (progress.type === 'file-start') bar?.update(progress.index, { source: progress.source });
        else bar?.update(progress.index + 1, { source: progress.result.source });
      },
    );
    bar?.stop();
    printSummary(summary, (performance.now() - started) / 1000, values.collection);
    await embedder?.close?.();
    return summary.failed > 0 || unmatched.length > 0 ? 1 : 0;
  } finally {
    await ingestor.close();
    await stores.close();
  }
}

function printSummary(summary: IngestSummary, seconds: number, collection: string): void {
  for (const result of summary.results) {
    if (result.status === 'failed')
      console.error(`  failed     ${result.error?.code}: ${result.error?.message}`);
  }
  console.log(
    `Collection "${collection}": ${summary.added} added, ${summary.updated} updated, ${summary.unchanged} unchanged, ` +
      `${summary.failed} failed; ${summary.chunks} chunks indexed in ${seconds.toFixed(1)} s.`,
  );
}

export async function documentsCommand(args: string[], config: Config): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      collection: { type: 'string', default: DEFAULT_CHATBOT_ID },
      all: { type: 'boolean', default: false },
      yes: { type: 'boolean', short: 'y', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    console.log(DOCUMENTS_USAGE);
    return 0;
  }
  const [action = 'list', target] = positionals;
  if (values.all && (action !== 'delete' || target !== undefined)) {
    console.error(`--all goes with delete alone, without a document.\n\n${DOCUMENTS_USAGE}`);
    return 2;
  }
  const stores = await openStores(config);
  try {
    if (action === 'list') {
      const documents = await stores.documents.listDocuments(values.collection, { limit: 10_000 });
      for (const document of documents) {
        console.log(`${document.id}  ${String(document.chunkCount).padStart(5)} chunks  ${document.source}`);
      }
      const counts = await stores.documents.countDocuments(values.collection);
      console.log(`${counts.documents} documents, ${counts.chunks} chunks in "${values.collection}".`);
      return 0;
    }
    if (action === 'delete' && values.all) {
      return await deleteAll(stores.documents, values.collection, values.yes);
    }
    if (action === 'delete' && target !== undefined) {
      const byId = await stores.documents.getDocument(target);
      // An id from another collection is "not here", as in the HTTP API.
      const document =
        (byId?.collectionId === values.collection ? byId : undefined) ??
        (await stores.documents.findDocumentBySource(values.collection, target));
      if (document === undefined) {
        console.error(`No document "${target}" in "${values.collection}".`);
        return 1;
      }
      await stores.documents.deleteDocument(document.id);
      console.log(`Deleted ${document.source} (${document.chunkCount} chunks).`);
      return 0;
    }
    console.error(DOCUMENTS_USAGE);
    return 2;
  } finally {
    await stores.close();
  }
}

/** `documents delete --all`: every document of the collection, once confirmed (a terminal) or with --yes. */
async function deleteAll(documents: Stores['documents'], collection: string, yes: boolean): Promise<number> {
  const counts = await documents.countDocuments(collection);
  if (counts.documents === 0) {
    console.log(`No documents in "${collection}".`);
    return 0;
  }
  const what = `${counts.documents} documents (${counts.chunks} chunks) from "${collection}"`;
  if (!yes) {
    if (!process.stdin.isTTY || !process.stdout.isTTY) {
      console.error(`Refusing to delete ${what} without --yes: there is no terminal to confirm on.`);
      return 2;
    }
    const terminal = createInterface({ input: process.stdin, output: process.stdout });
    const reply = await terminal.question(`Delete ${what}? This cannot be undone. [y/N] `).finally(() => {
      terminal.close();
    });
    if (!/^y(es)?$/iu.test(reply.trim())) {
      console.log('Nothing deleted.');
      return 1;
    }
  }
  let deleted = 0;
  let chunks = 0;
  // Deleting shifts the pages, so always read the first one until the collection is empty.
  for (;;) {
    const page = await documents.listDocuments(collection, { limit: 500 });
    let progress = false;
    for (const document of page) {
      if (await documents.deleteDocument(document.id)) {
        deleted += 1;
        chunks += document.chunkCount;
        progress = true;
      }
    }
    if (!progress) break;
  }
  console.log(`Deleted ${deleted} documents (${chunks} chunks) from "${collection}".`);
  return 0;
}
