// PDF loader (unpdf, a serverless build of pdf.js): one section per page with its page number in the metadata; the
// metadata title and author when present. pdf.js logging is silenced. pdf.js inflates a stream whole into memory, so
// the file's Flate streams are inflated here first, counting the bytes (none kept) against
// DOCUMENT_MAX_EXPANDED_BYTES; pages are then read one at a time, their text streamed, until the text a document may
// hold is reached. Streams that declare themselves images count only past an allowance of four times the cap (text
// extraction never decodes images, and a page's Flate image is legitimately large; a content stream that lies about
// being an image gets no further than the allowance). The parse worker's heap limit and timeout stand behind that
// and behind filters the scan does not follow (LZW, ASCII85 before Flate).
import { constants, createInflate } from 'node:zlib';
import { getDocumentProxy, getMeta } from 'unpdf';
import { RivuletError } from '../../core/errors.ts';
import {
  empty,
  expandsTooBig,
  MAX_PDF_PAGES,
  tidy,
  tooComplex,
  tooMuchText,
  unreadable,
  type FormatLoader,
} from './shared.ts';

const PDF_HEADER = '%PDF-';
/** How far before a `stream` keyword its dictionary is looked for. */
const DICTIONARY_WINDOW = 16 * 1024;
/** Inflated image bytes not counted against the cap, as a multiple of it. */
const IMAGE_ALLOWANCE = 4;

export const loadPdf: FormatLoader = async (bytes, fileName, _options, limits) => {
  if (!isPdf(bytes)) throw unreadable(fileName, 'not a PDF file (no %PDF- header)');
  if ((await flateBytes(bytes, limits.maxExpandedBytes)) > limits.maxExpandedBytes) {
    throw expandsTooBig(fileName, 'its compressed streams', limits.maxExpandedBytes);
  }
  let pdf: Awaited<ReturnType<typeof getDocumentProxy>> | undefined;
  try {
    // pdf.js may transfer (detach) the buffer it is given: pass a copy. verbosity 0 keeps its warnings off stdout.
    pdf = await getDocumentProxy(new Uint8Array(bytes), { verbosity: 0 });
    if (pdf.numPages > MAX_PDF_PAGES) throw tooComplex(fileName, `more than ${MAX_PDF_PAGES} pages`);
    const pages: string[] = [];
    let chars = 0;
    for (let number = 1; number <= pdf.numPages; number++) {
      const page = await pdf.getPage(number);
      const text = await pageText(page, limits.maxTextChars - chars);
      page.cleanup();
      if (text === undefined) throw tooMuchText(fileName, limits.maxTextChars);
      chars += text.length;
      pages.push(text);
    }
    const { info } = (await getMeta(pdf)) as { info: Record<string, unknown> };
    const sections = pages.map((page, index) => ({
      heading: [],
      text: tidy(page),
      metadata: { page: index + 1 },
    }));
    if (!sections.some((section) => section.text)) {
      throw empty(fileName, 'no text layer in this PDF (a scanned document needs OCR first)');
    }
    const title = typeof info.Title === 'string' ? info.Title.trim() : undefined;
    const author = typeof info.Author === 'string' && info.Author.trim() ? info.Author.trim() : undefined;
    return {
      title: title || undefined,
      sections,
      metadata: { pages: pages.length, ...(author && { author }) },
    };
  } catch (error) {
    if (error instanceof Error && error.name === 'PasswordException') {
      throw unreadable(fileName, 'a password-protected PDF', error);
    }
    if (error instanceof RivuletError) throw error;
    throw unreadable(fileName, 'not a readable PDF (the file is damaged or incomplete)', error);
  } finally {
    void pdf?.destroy().catch(() => undefined);
  }
};

type PdfPage = Awaited<ReturnType<Awaited<ReturnType<typeof getDocumentProxy>>['getPage']>>;

/** A page's text, streamed from pdf.js and given up (undefined) as soon as it passes `maxChars`. */
async function pageText(page: PdfPage, maxChars: number): Promise<string | undefined> {
  const reader = (page.streamTextContent() as ReadableStream<{ items: TextItem[] }>).getReader();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text;
    for (const item of value.items) if (item.str !== undefined) text += item.str + (item.hasEOL ? '\n' : '');
    if (text.length > maxChars) {
      await reader.cancel(new Error('the document holds more text than allowed'));
      return undefined;
    }
  }
}

interface TextItem {
  str?: string;
  hasEOL?: boolean;
}

/**
 * The bytes the file's FlateDecode streams (images past their allowance) inflate to, counted without keeping them; the count stops
 * soon after passing `limit`. A damaged stream counts what it gave before the damage, as pdf.js would decode it.
 */
async function flateBytes(bytes: Uint8Array, limit: number): Promise<number> {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let total = 0;
  let images = 0;
  const imageAllowance = IMAGE_ALLOWANCE * limit;
  let previous = 0;
  for (
    let at = buffer.indexOf('stream', 0, 'latin1');
    at >= 0;
    at = buffer.indexOf('stream', at + 6, 'latin1')
  ) {
    // A dictionary never reaches back past the previous keyword, so each byte is looked at once however many there are.
    const before = buffer.toString('latin1', Math.max(previous, at - DICTIONARY_WINDOW), at);
    previous = at + 6;
    if (!/>>\s*$/.test(before)) continue; // "endstream", or the word inside text or data
    const dictionary = before.slice(before.lastIndexOf('obj') + 1);
    if (!/\/(FlateDecode|Fl)\b/.test(dictionary)) continue;
    let start = at + 6;
    if (buffer[start] === 0x0d) start++;
    if (buffer[start] === 0x0a) start++;
    // From the data to the end of the file: inflation stops at the stream's own end, whatever /Length says.
    const data = buffer.subarray(start);
    if (/\/Subtype\s*\/Image\b/.test(dictionary)) {
      images += await inflatedSize(data, imageAllowance - images + limit - total + 1);
      if (images <= imageAllowance) continue;
      total += images - imageAllowance;
      images = imageAllowance;
    } else {
      total += await inflatedSize(data, limit - total + 1);
    }
    if (total > limit) return total;
  }
  return total;
}

/** Bytes a zlib stream inflates to, up to `limit` (then it stops); errors end the count, not the scan. */
function inflatedSize(data: Uint8Array, limit: number): Promise<number> {
  return new Promise((resolve) => {
    const inflate = createInflate({ finishFlush: constants.Z_SYNC_FLUSH });
    let size = 0;
    inflate.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        inflate.destroy();
        resolve(size);
      }
    });
    inflate.on('error', () => resolve(size));
    inflate.on('end', () => resolve(size));
    inflate.on('close', () => resolve(size));
    inflate.end(data);
  });
}

/** pdf.js accepts up to 1 KiB of junk before the header, as readers do. */
export function isPdf(bytes: Uint8Array): boolean {
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 1024));
  return head.includes(PDF_HEADER);
}
