// One file's parse, from bytes to chunks, as the parse worker runs it: load (with the expansion and text limits),
// chunk, and refuse a document that makes more chunks than allowed. Plain data in and out, so that it crosses a
// worker boundary; errors come back as their code, message and detail.

import { RivuletError, toRivuletError } from '../core/errors.ts';
import { chunkDocument, DEFAULT_MAX_CHARS, type Chunk, type ChunkOptions } from './chunker.ts';
import { loadDocument } from './loaders.ts';
import type { LoadOptions } from './parsed-document.ts';

export interface ParseRequest {
  bytes: Uint8Array;
  fileName: string;
  options: LoadOptions;
  chunking: ChunkOptions;
  /** Bytes compressed content may inflate to (DOCUMENT_MAX_EXPANDED_BYTES). */
  maxExpandedBytes: number;
  /** Chunks the document may make (DOCUMENT_MAX_CHUNKS). */
  maxChunks: number;
}

export interface ParsedFile {
  title: string;
  mediaType: string;
  metadata: Record<string, unknown>;
  chunks: Chunk[];
}

export type ParseOutcome =
  | { ok: true; file: ParsedFile }
  | { ok: false; error: { code: string; message: string; detail?: string | undefined } };

export async function parseDocument(request: ParseRequest): Promise<ParseOutcome> {
  const { fileName, maxChunks } = request;
  try {
    // Each chunk holds at most maxChars characters, so more text than maxChunks of them can hold is refused unread.
    const maxTextChars = maxChunks * (request.chunking.maxChars ?? DEFAULT_MAX_CHARS);
    const parsed = await loadDocument(request.bytes, fileName, request.options, {
      maxExpandedBytes: request.maxExpandedBytes,
      maxTextChars,
    });
    const chunks = chunkDocument(parsed, request.chunking);
    if (chunks.length > maxChunks) {
      throw new RivuletError('DOCUMENT_TOO_MANY_CHUNKS', {
        message: `${fileName}: makes ${chunks.length} chunks, more than DOCUMENT_MAX_CHUNKS (${maxChunks}); split the file`,
      });
    }
    return {
      ok: true,
      file: { title: parsed.title, mediaType: parsed.mediaType, metadata: parsed.metadata, chunks },
    };
  } catch (caught) {
    const error = toRivuletError(caught);
    return { ok: false, error: { code: error.code, message: error.message, detail: error.detail } };
  }
}
