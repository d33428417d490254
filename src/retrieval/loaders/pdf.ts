// PDF loader (unpdf, a serverless build of pdf.js): one section per page with its page number in the metadata; the
// metadata title and author when present. pdf.js logging is silenced and a parse that runs too long is given up.
import { extractText, getDocumentProxy, getMeta } from 'unpdf';
import { RivuletError } from '../../core/errors.ts';
import { empty, tidy, unreadable, type FormatLoader } from './shared.ts';

const PDF_TIME_LIMIT_MS = 60_000;
const PDF_HEADER = '%PDF-';

export const loadPdf: FormatLoader = async (bytes, fileName) => {
  if (!isPdf(bytes)) throw unreadable(fileName, 'not a PDF file (no %PDF- header)');
  const opened: { pdf?: Awaited<ReturnType<typeof getDocumentProxy>> } = {};
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(unreadable(fileName, 'took too long to read as a PDF')),
      PDF_TIME_LIMIT_MS,
    );
  });
  const read = async () => {
    // pdf.js may transfer (detach) the buffer it is given: pass a copy. verbosity 0 keeps its warnings off stdout.
    const pdf = await getDocumentProxy(new Uint8Array(bytes), { verbosity: 0 });
    opened.pdf = pdf;
    const { text } = await extractText(pdf, { mergePages: false });
    const { info } = await getMeta(pdf);
    return { pages: text, info: info as Record<string, unknown> };
  };
  try {
    const { pages, info } = await Promise.race([read(), timeout]);
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
    clearTimeout(timer);
    void opened.pdf?.destroy().catch(() => undefined);
  }
};

/** pdf.js accepts up to 1 KiB of junk before the header, as readers do. */
export function isPdf(bytes: Uint8Array): boolean {
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 1024));
  return head.includes(PDF_HEADER);
}
