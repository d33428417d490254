// DOCX loader: mammoth converts the document to HTML, which the HTML loader turns into sections, so Word headings
// survive as the heading path. The title and author come from docProps/core.xml, read here with a small zip reader
// that also refuses archives declaring an absurd unpacked size (a zip bomb would otherwise exhaust memory).
import { inflateRawSync } from 'node:zlib';
import { Parser } from 'htmlparser2';
import mammoth from 'mammoth';
import { parseHtml } from './html.ts';
import { unreadable, type FormatLoader } from './shared.ts';

const MAX_UNPACKED_BYTES = 512 * 1024 * 1024;

export const loadDocx: FormatLoader = async (bytes, fileName) => {
  if (!isZip(bytes)) throw unreadable(fileName, 'not a Word (.docx) document: it is not a zip archive');
  const entries = zipEntries(bytes);
  if (entries && entries.reduce((sum, entry) => sum + entry.size, 0) > MAX_UNPACKED_BYTES) {
    throw unreadable(fileName, `unpacks to more than ${MAX_UNPACKED_BYTES / 1024 / 1024} MB`);
  }
  let html: string;
  try {
    html = (await mammoth.convertToHtml({ buffer: Buffer.from(bytes) })).value;
  } catch (error) {
    throw unreadable(
      fileName,
      'not a readable Word (.docx) document (the file is damaged or is another kind of zip)',
      error,
    );
  }
  const core = entries ? coreProperties(bytes, entries) : {};
  const parts = parseHtml(html, fileName);
  return {
    title: core.title || parts.title,
    sections: parts.sections,
    metadata: core.author ? { author: core.author } : {},
  };
};

export function isZip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  offset: number;
}

/** The central directory's entries, or undefined when it cannot be found (mammoth then reports the damage). */
function zipEntries(bytes: Uint8Array): ZipEntry[] | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const names = new TextDecoder();
  for (let end = bytes.length - 22; end >= Math.max(0, bytes.length - 22 - 0xffff); end--) {
    if (view.getUint32(end, true) !== 0x06054b50) continue;
    const entries: ZipEntry[] = [];
    let at = view.getUint32(end + 16, true);
    for (let n = view.getUint16(end + 10, true); n > 0; n--) {
      if (at + 46 > bytes.length || view.getUint32(at, true) !== 0x02014b50) return undefined;
      const nameLength = view.getUint16(at + 28, true);
      entries.push({
        name: names.decode(bytes.subarray(at + 46, at + 46 + nameLength)),
        method: view.getUint16(at + 10, true),
        compressedSize: view.getUint32(at + 20, true),
        size: view.getUint32(at + 24, true),
        offset: view.getUint32(at + 42, true),
      });
      at += 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    }
    return entries;
  }
  return undefined;
}

/** dc:title and dc:creator from docProps/core.xml; empty when absent or unreadable. */
function coreProperties(bytes: Uint8Array, entries: ZipEntry[]): { title?: string; author?: string } {
  const entry = entries.find((e) => e.name === 'docProps/core.xml');
  if (!entry || (entry.method !== 0 && entry.method !== 8)) return {};
  try {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const start =
      entry.offset + 30 + view.getUint16(entry.offset + 26, true) + view.getUint16(entry.offset + 28, true);
    const data = bytes.subarray(start, start + entry.compressedSize);
    const xml = new TextDecoder().decode(
      entry.method === 8 ? inflateRawSync(data, { maxOutputLength: 1 << 20 }) : data,
    );
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
