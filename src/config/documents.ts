// Documents: the sample corpus, and the limits on uploading and parsing one file.

import { z } from 'zod';
import { booleanText, integer } from './fields.ts';

export const documentsSchema = z.object({
  SAMPLE_CORPUS: booleanText(true),
  DOCUMENT_MAX_BYTES: integer(50 * 1024 * 1024, 1024),
  DOCUMENT_MAX_EXPANDED_BYTES: integer(32 * 1024 * 1024, 1024),
  DOCUMENT_MAX_CHUNKS: integer(10_000, 1),
  DOCUMENT_PARSE_WORKERS: integer(2, 1).pipe(z.number().max(64)),
  DOCUMENT_PARSE_TIMEOUT_MS: integer(60_000, 100),
  DOCUMENT_PARSE_MEMORY_MB: integer(1024, 64),
});
export type DocumentsValues = z.infer<typeof documentsSchema>;

/** Limits on parsing one document, so that no upload can stall or exhaust the server. */
export interface DocumentParsingConfig {
  /** Worker threads that parse files at once; more files wait their turn. */
  workers: number;
  /** Wall-clock time one file may take to parse; the worker is then terminated (DOCUMENT_PARSE_TIMEOUT). */
  timeoutMs: number;
  /** A parse process's JavaScript heap (old generation), in MB; past it the process dies (DOCUMENT_TOO_COMPLEX). */
  memoryMb: number;
  /** Bytes a DOCX's XML parts or a PDF's Flate streams may inflate to (DOCUMENT_EXPANDS_TOO_BIG). */
  maxExpandedBytes: number;
  /** Chunks one document may make (DOCUMENT_TOO_MANY_CHUNKS). */
  maxChunks: number;
}

export interface DocumentSettings {
  /** Ingest the bundled sample corpus into the default collection on a fresh install (a new database). */
  sampleCorpus: boolean;
  documentMaxBytes: number;
  /** Uploaded and ingested files are parsed (loaded and chunked) in child processes with these limits. */
  documentParsing: DocumentParsingConfig;
}

export function resolveDocuments(values: DocumentsValues): DocumentSettings {
  return {
    sampleCorpus: values.SAMPLE_CORPUS,
    documentMaxBytes: values.DOCUMENT_MAX_BYTES,
    documentParsing: {
      workers: values.DOCUMENT_PARSE_WORKERS,
      timeoutMs: values.DOCUMENT_PARSE_TIMEOUT_MS,
      memoryMb: values.DOCUMENT_PARSE_MEMORY_MB,
      maxExpandedBytes: values.DOCUMENT_MAX_EXPANDED_BYTES,
      maxChunks: values.DOCUMENT_MAX_CHUNKS,
    },
  };
}
