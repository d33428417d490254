// Hostile uploads generated on the spot: decompression bombs (DOCX, a zip whose directory lies about sizes, a PDF
// with a Flate bomb stream) and a CSV wider than any real table. A bomb is built from one compressed block repeated,
// so a gigabyte of inflated content costs the test a few hundred kilobytes and a few milliseconds.

import { crc32, deflateRawSync } from 'node:zlib';

const MIB = 1024 * 1024;

/** A raw deflate stream that inflates to `chunk` repeated `times` times. */
export function repeatedDeflate(chunk: Uint8Array, times: number): Buffer {
  // Each block is compressed on its own (a full flush ends it on a byte boundary and refers to nothing before it),
  // so the blocks can be concatenated; an empty final block ends the stream.
  const block = deflateRawSync(chunk, { level: 9, finishFlush: 3 /* Z_FULL_FLUSH */ });
  const final = deflateRawSync(Buffer.alloc(0));
  return Buffer.concat([...Array.from({ length: times }, () => block), final]);
}

/** adler32 of `data` repeated `times` times (a zlib stream's trailer), without materialising the repetition. */
function repeatedAdler32(data: Uint8Array, times: number): number {
  const BASE = 65521;
  let a = 1;
  let b = 0;
  for (const byte of data) {
    a = (a + byte) % BASE;
    b = (b + a) % BASE;
  }
  const one = ((b << 16) | a) >>> 0;
  // zlib's adler32_combine, applied times - 1 times.
  const combine = (adler1: number, adler2: number, len2: number): number => {
    const rem = len2 % BASE;
    let sum1 = adler1 & 0xffff;
    let sum2 = (rem * sum1) % BASE;
    sum1 += (adler2 & 0xffff) + BASE - 1;
    sum2 += ((adler1 >>> 16) & 0xffff) + ((adler2 >>> 16) & 0xffff) + BASE - rem;
    if (sum1 >= BASE) sum1 -= BASE;
    if (sum1 >= BASE) sum1 -= BASE;
    if (sum2 >= BASE * 2) sum2 -= BASE * 2;
    if (sum2 >= BASE) sum2 -= BASE;
    return ((sum2 << 16) | sum1) >>> 0;
  };
  let total = one;
  for (let i = 1; i < times; i++) total = combine(total, one, data.length);
  return total;
}

/** A zlib (RFC 1950) stream, as PDF's FlateDecode expects, of `chunk` repeated `times` times. */
export function repeatedZlib(chunk: Uint8Array, times: number): Buffer {
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32BE(repeatedAdler32(chunk, times));
  return Buffer.concat([Buffer.from([0x78, 0xda]), repeatedDeflate(chunk, times), trailer]);
}

export interface ZipEntryInput {
  name: string;
  /** Stored as is (method 0) unless `deflated` is given. */
  data?: Uint8Array;
  /** Already raw-deflated content (method 8) and its true inflated size and CRC. */
  deflated?: { bytes: Uint8Array; size: number; crc: number };
  /** Lie in both headers: the uncompressed size to declare instead of the true one. */
  declaredSize?: number;
}

/** A minimal zip writer (local headers, central directory, end record); no zip64. */
export function writeZip(entries: ZipEntryInput[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const stored = entry.deflated === undefined;
    const body = entry.deflated?.bytes ?? entry.data ?? new Uint8Array(0);
    const size = entry.declaredSize ?? entry.deflated?.size ?? body.length;
    const crc = entry.deflated?.crc ?? crc32(body);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(stored ? 0 : 8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size >>> 0, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(stored ? 0 : 8, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size >>> 0, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, Buffer.from(body));
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

const CONTENT_TYPES =
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' +
  '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
  '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
  '<Default Extension="xml" ContentType="application/xml"/>' +
  '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>' +
  '</Types>';
const ROOT_RELS =
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' +
  '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
  '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>' +
  '</Relationships>';
const DOCUMENT_START =
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' +
  '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>';
const DOCUMENT_END = '</w:body></w:document>';

/** A Word paragraph of `text`. */
export function wordParagraph(text: string): string {
  return `<w:p><w:r><w:t>${text}</w:t></w:r></w:p>`;
}

export interface DocxBombOptions {
  /** How many MiB word/document.xml inflates to (roughly). */
  inflatedMiB: number;
  /** Declare this uncompressed size for document.xml in the zip headers instead of the true one. */
  declaredSize?: number;
  /** The repeated paragraph (default: a sentence of prose). */
  paragraph?: string;
  /** More XML parts (word/partN.xml) with the same content: many entries, each under a cap, all over it. */
  extraParts?: number;
}

/**
 * A .docx whose word/document.xml is one paragraph repeated until it inflates to `inflatedMiB`: valid Word all the
 * way through, so nothing but its size gives it away.
 */
export function docxBomb(options: DocxBombOptions): Buffer {
  const paragraph = options.paragraph ?? wordParagraph('All work and no play makes Jack a dull boy.');
  const chunk = Buffer.from(paragraph.repeat(Math.max(1, Math.floor(MIB / paragraph.length))));
  const times = Math.max(1, Math.round((options.inflatedMiB * MIB) / chunk.length));
  const head = Buffer.from(DOCUMENT_START);
  const tail = Buffer.from(DOCUMENT_END);
  // The XML head and tail go in their own stored-in-deflate blocks around the repeated body.
  const body = Buffer.concat([
    deflateRawSync(head, { finishFlush: 3 }),
    repeatedDeflate(chunk, times).subarray(0, -deflateRawSync(Buffer.alloc(0)).length),
    deflateRawSync(tail),
  ]);
  let crc = crc32(head);
  for (let i = 0; i < times; i++) crc = crc32(chunk, crc);
  crc = crc32(tail, crc);
  const size = head.length + chunk.length * times + tail.length;
  const declared = options.declaredSize === undefined ? {} : { declaredSize: options.declaredSize };
  return writeZip([
    { name: '[Content_Types].xml', data: Buffer.from(CONTENT_TYPES) },
    { name: '_rels/.rels', data: Buffer.from(ROOT_RELS) },
    { name: 'word/document.xml', deflated: { bytes: body, size, crc }, ...declared },
    ...Array.from({ length: options.extraParts ?? 0 }, (_, i) => ({
      name: `word/part${i + 1}.xml`,
      deflated: { bytes: body, size, crc },
      ...declared,
    })),
  ]);
}

/** A small, valid .docx built with the same writer, for a control. */
export function smallDocx(paragraphs: string[]): Buffer {
  const xml = DOCUMENT_START + paragraphs.map(wordParagraph).join('') + DOCUMENT_END;
  return writeZip([
    { name: '[Content_Types].xml', data: Buffer.from(CONTENT_TYPES) },
    { name: '_rels/.rels', data: Buffer.from(ROOT_RELS) },
    { name: 'word/document.xml', data: Buffer.from(xml) },
  ]);
}

/**
 * A one-page PDF (standard Helvetica, nothing embedded) whose content stream is FlateDecode and inflates to
 * `inflatedMiB` of text-drawing operators: a page of text a reader would draw, repeated without end.
 */
/**
 * `evasive`: a comment between the dictionary and `stream` (legal PDF, which pdf.js reads), so a scan that expects
 * `>>` then whitespace then `stream` misses the stream.
 */
export function pdfFlateBomb(options: {
  inflatedMiB: number;
  line?: string;
  disguised?: boolean;
  evasive?: boolean;
}): Buffer {
  const line = `BT /F1 12 Tf 50 700 Td (${options.line ?? 'All work and no play makes Jack a dull boy.'}) Tj ET\n`;
  const chunk = Buffer.from(line.repeat(Math.max(1, Math.floor(MIB / line.length))));
  const times = Math.max(1, Math.round((options.inflatedMiB * MIB) / chunk.length));
  return writePdf(repeatedZlib(chunk, times), true, options.disguised === true, options.evasive === true);
}

/** A one-page PDF with `text` drawn in plain (unfiltered) operators, for a control. */
export function smallPdf(text: string): Buffer {
  return writePdf(Buffer.from(`BT /F1 12 Tf 50 700 Td (${text}) Tj ET\n`), false);
}

/** `disguised`: the content stream's dictionary claims it is an image (which a reader ignores for /Contents). */
function writePdf(content: Buffer, flate: boolean, disguised = false, evasive = false): Buffer {
  const objects: Buffer[] = [
    Buffer.from('<< /Type /Catalog /Pages 2 0 R >>'),
    Buffer.from('<< /Type /Pages /Kids [3 0 R] /Count 1 >>'),
    Buffer.from(
      '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>',
    ),
    Buffer.concat([
      Buffer.from(
        `<< /Length ${content.length}${flate ? ' /Filter /FlateDecode' : ''}${disguised ? ' /Subtype /Image' : ''} >>${evasive ? ' %x' : ''}\nstream\n`,
      ),
      content,
      Buffer.from('\nendstream'),
    ]),
    Buffer.from('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>'),
  ];
  const parts: Buffer[] = [Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  const offsets: number[] = [];
  let length = parts[0]!.length;
  objects.forEach((body, index) => {
    offsets.push(length);
    const object = Buffer.concat([Buffer.from(`${index + 1} 0 obj\n`), body, Buffer.from('\nendobj\n')]);
    parts.push(object);
    length += object.length;
  });
  const xref =
    `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n` +
    offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n \n`).join('') +
    `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${length}\n%%EOF\n`;
  parts.push(Buffer.from(xref));
  return Buffer.concat(parts);
}

/** A CSV with `columns` columns (short header names) and `rows` rows of short prose cells. */
export function wideCsv(columns: number, rows = 1): Buffer {
  const header = Array.from({ length: columns }, (_, i) => `c${i}`).join(',');
  const row = Array.from({ length: columns }, () => 'word').join(',');
  return Buffer.from(`${header}\n${`${row}\n`.repeat(rows)}`);
}
