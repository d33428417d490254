// DOCX loader: mammoth converts the document to HTML, which the HTML loader turns into sections, so Word headings
// survive as the heading path. The title and author come from docProps/core.xml. The archive is unpacked here first
// (./zip.ts), counting the bytes actually inflated against DOCUMENT_MAX_EXPANDED_BYTES: only the XML parts (and
// .rels) are inflated, images and other binary parts are left out, and mammoth gets a stored zip of what passed,
// so neither a bomb nor a directory that lies about sizes can make it inflate more.
import { Parser } from 'htmlparser2';
import mammoth from 'mammoth';
import { parseHtml } from './html.ts';
import { expandsTooBig, unreadable, type FormatLoader, type LoadLimits } from './shared.ts';
import { InflateLimitError, isZip, readEntry, writeStoredZip, zipEntries, ZipFormatError } from './zip.ts';

export { isZip };

/** The parts mammoth reads (the document, styles, numbering, notes, comments, relationships) are XML. */
const XML_PART = /\.(xml|rels)$/i;

export const loadDocx: FormatLoader = async (bytes, fileName, _options, limits) => {
  if (!isZip(bytes)) throw unreadable(fileName, 'not a Word (.docx) document: it is not a zip archive');
  const parts = unpackXmlParts(bytes, fileName, limits);
  let html: string;
  try {
    html = (
      await mammoth.convertToHtml(
        { buffer: writeStoredZip(parts) },
        // Images were left out of the unpacked parts: never read them (the default makes a data: URI of each).
        { convertImage: mammoth.images.imgElement(() => Promise.resolve({ src: '' })) },
      )
    ).value;
  } catch (error) {
    throw unreadable(
      fileName,
      'not a readable Word (.docx) document (the file is damaged or is another kind of zip)',
      error,
    );
  }
  const core = coreProperties(parts.get('docProps/core.xml'));
  const loaded = parseHtml(html, fileName);
  return {
    title: core.title || loaded.title,
    sections: loaded.sections,
    metadata: core.author ? { author: core.author } : {},
  };
};

/**
 * The archive's XML parts, inflated within limits.maxExpandedBytes in all; other parts are kept empty (their names
 * still exist for mammoth). A name that occurs twice keeps its first entry.
 */
function unpackXmlParts(bytes: Uint8Array, fileName: string, limits: LoadLimits): Map<string, Uint8Array> {
  const parts = new Map<string, Uint8Array>();
  let budget = limits.maxExpandedBytes;
  try {
    for (const entry of zipEntries(bytes)) {
      if (parts.has(entry.name) || entry.name.endsWith('/')) continue;
      if (!XML_PART.test(entry.name)) {
        parts.set(entry.name, new Uint8Array(0));
        continue;
      }
      const data = readEntry(bytes, entry, budget);
      budget -= data.length;
      parts.set(entry.name, data);
    }
  } catch (error) {
    if (error instanceof InflateLimitError)
      throw expandsTooBig(fileName, 'its XML parts', limits.maxExpandedBytes);
    if (error instanceof ZipFormatError) {
      throw unreadable(fileName, `not a readable Word (.docx) document (${error.message})`, error);
    }
    throw error;
  }
  return parts;
}

/** dc:title and dc:creator from docProps/core.xml; empty when absent or unreadable. */
function coreProperties(data: Uint8Array | undefined): { title?: string; author?: string } {
  if (data === undefined || data.length === 0) return {};
  try {
    const xml = new TextDecoder().decode(data);
    const found: Record<string, string> = {};
    let current: string | undefined;
    new Parser(
      {
        onopentag: (name) => (current = name),
        ontext: (text) => {
          if (current) found[current] = (found[current] ?? '') + text;
        },
        onclosetag: () => (current = undefined),
      },
      { xmlMode: true, decodeEntities: true },
    ).end(xml);
    return { title: found['dc:title']?.trim(), author: found['dc:creator']?.trim() };
  } catch {
    return {};
  }
}
