// Turns an uploaded or ingested file into a ParsedDocument: picks the format from the extension (sniffing the
// content when there is none), runs that format's loader and applies the common rules (title fallback, no empty
// sections, coded errors that name the file). The loaders themselves live in ./loaders/.
import { RivuletError } from '../core/errors.ts';
import { isZip, loadDocx } from './loaders/docx.ts';
import { loadHtml } from './loaders/html.ts';
import { loadMarkdown } from './loaders/markdown.ts';
import { isPdf, loadPdf } from './loaders/pdf.ts';
import { loadCsv, loadJson, loadJsonLines } from './loaders/records.ts';
import {
  DEFAULT_LOAD_LIMITS,
  empty,
  tooComplex,
  tooMuchText,
  unreadable,
  type FormatLoader,
  type LoadedParts,
  type LoadLimits,
} from './loaders/shared.ts';
import { humaniseStem } from '../core/source-names.ts';
import { loadText } from './loaders/text.ts';
import type { LoadOptions, ParsedDocument } from './parsed-document.ts';

interface Format {
  label: string;
  mediaType: string;
  load: FormatLoader;
}

const TEXT: Format = { label: 'text', mediaType: 'text/plain', load: loadText };
const MARKDOWN: Format = { label: 'Markdown', mediaType: 'text/markdown', load: loadMarkdown };
const HTML: Format = { label: 'HTML', mediaType: 'text/html', load: loadHtml };
const JSON_FORMAT: Format = { label: 'JSON', mediaType: 'application/json', load: loadJson };
const JSONL: Format = { label: 'JSON Lines', mediaType: 'application/jsonl', load: loadJsonLines };
const CSV: Format = { label: 'CSV', mediaType: 'text/csv', load: loadCsv };
const PDF: Format = { label: 'PDF', mediaType: 'application/pdf', load: loadPdf };
const DOCX: Format = {
  label: 'Word (.docx)',
  mediaType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  load: loadDocx,
};

const BY_EXTENSION = new Map<string, Format>([
  ['txt', TEXT],
  ['md', MARKDOWN],
  ['markdown', MARKDOWN],
  ['html', HTML],
  ['htm', HTML],
  ['json', JSON_FORMAT],
  ['jsonl', JSONL],
  ['ndjson', JSONL],
  ['csv', CSV],
  ['pdf', PDF],
  ['docx', DOCX],
]);

/** File extensions loadDocument accepts, lower case and without the dot. */
export const SUPPORTED_EXTENSIONS: readonly string[] = [...BY_EXTENSION.keys()];

/** MIME type for a file name by its extension; undefined when the extension is not supported. */
export function mediaTypeFor(fileName: string): string | undefined {
  return BY_EXTENSION.get(extensionOf(fileName) ?? '')?.mediaType;
}

/**
 * Parses a file into sections under headings. Throws RivuletError DOCUMENT_UNSUPPORTED_TYPE, DOCUMENT_UNREADABLE,
 * DOCUMENT_EMPTY, DOCUMENT_EXPANDS_TOO_BIG, DOCUMENT_TOO_COMPLEX or DOCUMENT_TOO_MANY_CHUNKS, each with a message that
 * names the file and says what is wrong. Runs on the calling thread: the server and the CLI call it through the
 * parse worker pool (parser-pool.ts), which adds the memory and time limits a hostile file needs.
 */
export async function loadDocument(
  bytes: Uint8Array,
  fileName: string,
  options: LoadOptions = {},
  limits: LoadLimits = DEFAULT_LOAD_LIMITS,
): Promise<ParsedDocument> {
  const format = detectFormat(bytes, fileName);
  if (bytes.length === 0) throw empty(fileName, 'the file is empty');
  let parts: LoadedParts;
  try {
    parts = await format.load(bytes, fileName, options, limits);
  } catch (error) {
    if (error instanceof RivuletError) throw error;
    if (error instanceof RangeError && /string length|array length|allocation failed/i.test(error.message)) {
      throw tooComplex(fileName, `too large to read as ${format.label}`);
    }
    const tooDeep = error instanceof RangeError && /call stack/i.test(error.message);
    throw unreadable(
      fileName,
      `${tooDeep ? 'nests too deeply to be read' : 'could not be read'} as ${format.label}`,
      error,
    );
  }
  const sections = parts.sections
    .map((section) => ({ ...section, text: section.text.trim() }))
    .filter((section) => section.text);
  if (sections.length === 0) throw empty(fileName);
  if (sections.reduce((sum, section) => sum + section.text.length, 0) > limits.maxTextChars) {
    throw tooMuchText(fileName, limits.maxTextChars);
  }
  return {
    title: parts.title?.replace(/\s+/g, ' ').trim() || humaniseStem(stemOf(fileName)),
    mediaType: format.mediaType,
    sections,
    metadata: parts.metadata ?? {},
  };
}

function detectFormat(bytes: Uint8Array, fileName: string): Format {
  const extension = extensionOf(fileName);
  const known = BY_EXTENSION.get(extension ?? '');
  if (known) return known;
  if (isPdf(bytes)) return PDF;
  if (
    isZip(bytes) &&
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes('word/document.xml')
  ) {
    return DOCX;
  }
  const sniffed = extension === undefined ? sniffText(bytes) : undefined;
  if (sniffed) return sniffed;
  const what =
    extension === undefined ? 'a file without an extension that is not text' : `".${extension}" files`;
  throw new RivuletError('DOCUMENT_UNSUPPORTED_TYPE', {
    message: `${fileName}: ${what} cannot be ingested (supported: ${SUPPORTED_EXTENSIONS.join(', ')})`,
  });
}

/** For a name without an extension: JSON, HTML, Markdown or plain text when the bytes are UTF-8 text. */
function sniffText(bytes: Uint8Array): Format | undefined {
  // Not fatal: a character cut at the 64 KiB mark is fine, replacement characters before it mean binary.
  const text = new TextDecoder().decode(bytes.subarray(0, 64 * 1024)).trimStart();
  if (text.slice(0, -3).includes('\ufffd') || text.includes('\u0000')) return undefined;
  if (text.startsWith('{') || text.startsWith('[')) return JSON_FORMAT;
  if (/^<(!doctype html|html|head|body)\b/i.test(text)) return HTML;
  if (/^#{1,6} \S/m.test(text)) return MARKDOWN;
  return TEXT;
}

function baseName(fileName: string): string {
  return fileName.slice(Math.max(fileName.lastIndexOf('/'), fileName.lastIndexOf('\\')) + 1);
}

function extensionOf(fileName: string): string | undefined {
  const name = baseName(fileName);
  const dot = name.lastIndexOf('.');
  return dot > 0 && dot < name.length - 1 ? name.slice(dot + 1).toLowerCase() : undefined;
}

function stemOf(fileName: string): string {
  const name = baseName(fileName);
  const dot = name.lastIndexOf('.');
  return (dot > 0 ? name.slice(0, dot) : name) || fileName;
}
