// Ingestion: file bytes -> parsed sections -> chunks (in a parse worker, off the event loop, with memory, time,
// expansion and chunk limits) -> (embeddings) -> the document store. One file's failure is reported with its code
// and name and never stops the rest of a batch.

import { createHash } from 'node:crypto';
import { isUnchanged, type DocumentStore, type UpsertStatus } from '../core/documents.ts';
import type { Embedder } from '../core/embedder.ts';
import { RivuletError, toRivuletError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Chunk } from './chunker.ts';
import type { LoadOptions } from './parsed-document.ts';
import type { DocumentParser } from './parser-pool.ts';

/**
 * Part of every content hash: bump it when parsing or chunking changes what a file turns into, so re-ingesting
 * unchanged files rebuilds their chunks.
 */
export const INGEST_FORMAT_VERSION = 2;

/** Chunks embedded per provider call (the adapters split further to their own limits). */
const EMBED_BATCH = 64;

export interface IngestFile {
  /** The document's source key in its collection: a path relative to the ingest root, or an upload's name. */
  source: string;
  bytes: Uint8Array;
  /** Set when the file could not be read from disk (e.g. "EACCES"). */
  readError?: string;
}

export interface IngestOptions extends LoadOptions {
  collectionId: string;
  ownerId?: string | null;
  signal?: AbortSignal;
}

export type IngestStatus = UpsertStatus | 'failed';

export interface IngestResult {
  source: string;
  status: IngestStatus;
  documentId?: string;
  title?: string;
  chunks?: number;
  bytes: number;
  error?: { code: string; message: string };
}

export interface IngestSummary {
  added: number;
  updated: number;
  unchanged: number;
  failed: number;
  chunks: number;
  results: IngestResult[];
}

/** `total` is null when the number of files is not known in advance (a streamed upload). */
export type IngestProgress =
  | { type: 'file-start'; source: string; index: number; total: number | null }
  | { type: 'file-done'; result: IngestResult; index: number; total: number | null };

export interface IngestorOptions {
  documents: DocumentStore;
  embedder: Embedder | undefined;
  maxBytes: number;
  /** Loads and chunks files (a ParserPool: child processes with limits; it chunks as configured there). */
  parser: DocumentParser;
  logger: Logger;
}

/** sha256 over the bytes and everything else that shapes the chunks. */
export function contentHash(bytes: Uint8Array, options: LoadOptions): string {
  return createHash('sha256')
    .update(
      `rivulet-ingest:${INGEST_FORMAT_VERSION}:${JSON.stringify([options.textFields ?? null, options.titleField ?? null])}\n`,
    )
    .update(bytes)
    .digest('hex');
}

export function emptySummary(): IngestSummary {
  return { added: 0, updated: 0, unchanged: 0, failed: 0, chunks: 0, results: [] };
}

export function addToSummary(summary: IngestSummary, result: IngestResult): void {
  summary.results.push(result);
  summary[result.status] += 1;
  if (result.status !== 'unchanged') summary.chunks += result.chunks ?? 0;
}

export class Ingestor {
  private readonly options: IngestorOptions;

  constructor(options: IngestorOptions) {
    this.options = options;
  }

  /** Ingests one file; never throws for a bad file (the result says what went wrong), only for an abort. */
  async ingest(file: IngestFile, options: IngestOptions): Promise<IngestResult> {
    const { documents, embedder, maxBytes, logger } = this.options;
    const bytes = file.bytes.length;
    try {
      if (file.readError !== undefined) {
        throw new RivuletError('DOCUMENT_UNREADABLE', {
          message: `${file.source}: the file could not be read (${file.readError}).`,
        });
      }
      if (bytes > maxBytes) {
        throw new RivuletError('DOCUMENT_TOO_LARGE', {
          message: `${file.source}: ${bytes} bytes is more than DOCUMENT_MAX_BYTES (${maxBytes}).`,
        });
      }
      const loadOptions: LoadOptions = {
        ...(options.textFields === undefined ? {} : { textFields: options.textFields }),
        ...(options.titleField === undefined ? {} : { titleField: options.titleField }),
      };
      const hash = contentHash(file.bytes, loadOptions);
      const space = embedder === undefined ? undefined : await embedder.space();
      const existing = await documents.findDocumentBySource(options.collectionId, file.source);
      if (existing !== undefined && isUnchanged(existing, hash, space?.model ?? null)) {
        return {
          source: file.source,
          status: 'unchanged',
          documentId: existing.id,
          title: existing.title,
          chunks: existing.chunkCount,
          bytes,
        };
      }
      const parsed = await this.options.parser.parse(file.bytes, file.source, loadOptions, options.signal);
      const chunks = parsed.chunks;
      const vectors =
        embedder === undefined
          ? undefined
          : await embedChunks(embedder, parsed.title, chunks, options.signal);
      const { document, status } = await documents.upsertDocument(
        {
          collectionId: options.collectionId,
          source: file.source,
          title: parsed.title,
          mediaType: parsed.mediaType,
          contentHash: hash,
          metadata: parsed.metadata,
          bytes,
          ownerId: options.ownerId ?? null,
          ...(space === undefined ? {} : { embeddingSpace: space }),
        },
        chunks.map((chunk, index) => {
          const embedding = vectors?.[index];
          return embedding === undefined ? chunk : { ...chunk, embedding };
        }),
      );
      return {
        source: file.source,
        status,
        documentId: document.id,
        title: document.title,
        chunks: chunks.length,
        bytes,
      };
    } catch (caught) {
      if (options.signal?.aborted === true) throw options.signal.reason;
      const error = toRivuletError(caught);
      if (error.code === 'INTERNAL')
        logger.error({ err: caught, source: file.source }, 'ingesting a file failed');
      else logger.warn({ code: error.code, detail: error.detail, source: file.source }, 'file not ingested');
      // Every message names the file; INTERNAL's generic one gets the name added.
      const message = error.message.includes(file.source)
        ? error.message
        : `${file.source}: ${error.message}`;
      return { source: file.source, status: 'failed', bytes, error: { code: error.code, message } };
    }
  }

  /**
   * Ends a batch of ingests into a collection: the store finishes indexing the new chunks for text search
   * (DocumentStore.mergeTextIndex), which a small collection would otherwise search the slow way. A failure is
   * logged, not thrown: the documents are stored and found either way.
   */
  async finishBatch(collectionId: string): Promise<void> {
    try {
      await this.options.documents.mergeTextIndex(collectionId);
    } catch (caught) {
      this.options.logger.warn(
        { err: caught, collectionId },
        'merging the text index after an ingest failed',
      );
    }
  }

  /** Stops the parse processes; a file still parsing fails with SHUTTING_DOWN. */
  async close(): Promise<void> {
    await this.options.parser.close();
  }

  /** Ingests files one after another, reporting progress; the summary lists every file's outcome. */
  async ingestAll(
    files: Iterable<IngestFile> | AsyncIterable<IngestFile>,
    total: number,
    options: IngestOptions,
    onProgress?: (progress: IngestProgress) => void,
  ): Promise<IngestSummary> {
    const summary = emptySummary();
    let index = 0;
    for await (const file of files) {
      onProgress?.({ type: 'file-start', source: file.source, index, total });
      const result = await this.ingest(file, options);
      addToSummary(summary, result);
      onProgress?.({ type: 'file-done', result, index, total });
      index += 1;
    }
    await this.finishBatch(options.collectionId);
    return summary;
  }
}

/** Embeds "title > heading" with each chunk's text, so a passage's context counts in vector search too. */
async function embedChunks(
  embedder: Embedder,
  title: string,
  chunks: readonly Chunk[],
  signal: AbortSignal | undefined,
): Promise<Float32Array[]> {
  const vectors: Float32Array[] = [];
  for (let start = 0; start < chunks.length; start += EMBED_BATCH) {
    const texts = chunks
      .slice(start, start + EMBED_BATCH)
      .map((chunk) => `${chunk.heading === '' ? title : `${title} > ${chunk.heading}`}\n${chunk.text}`);
    vectors.push(
      ...(await embedder.embed(texts, { purpose: 'document', ...(signal === undefined ? {} : { signal }) })),
    );
  }
  return vectors;
}
