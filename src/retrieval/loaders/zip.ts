// The zip reading a DOCX needs, with a real cap on what it inflates: entries are found through the central directory,
// but the sizes it declares are never trusted. Each entry is inflated by node:zlib with maxOutputLength set to what
// the budget has left, so inflation stops within one 16 KiB chunk of the cap however the archive lies (zlib counts
// the bytes it actually produced). The entries that passed are written back as a stored (uncompressed) zip for
// mammoth, whose own unzip (jszip) then has nothing left to inflate.

import { crc32, inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  /** The local header's offset. */
  offset: number;
}

/** Thrown when inflating would pass the budget; `limit` is the budget's total. */
export class InflateLimitError extends Error {
  override readonly name = 'InflateLimitError';
}

/** Thrown when the archive's structure is broken (the caller words it for the file). */
export class ZipFormatError extends Error {
  override readonly name = 'ZipFormatError';
}

export function isZip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** The central directory's entries; throws ZipFormatError when it cannot be found or read. */
export function zipEntries(bytes: Uint8Array): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const names = new TextDecoder();
  for (let end = bytes.length - 22; end >= Math.max(0, bytes.length - 22 - 0xffff); end--) {
    if (view.getUint32(end, true) !== 0x06054b50) continue;
    const entries: ZipEntry[] = [];
    let at = view.getUint32(end + 16, true);
    for (let n = view.getUint16(end + 10, true); n > 0; n--) {
      if (at + 46 > bytes.length || view.getUint32(at, true) !== 0x02014b50) {
        throw new ZipFormatError('the zip directory is damaged');
      }
      const nameLength = view.getUint16(at + 28, true);
      entries.push({
        name: names.decode(bytes.subarray(at + 46, at + 46 + nameLength)),
        flags: view.getUint16(at + 8, true),
        method: view.getUint16(at + 10, true),
        compressedSize: view.getUint32(at + 20, true),
        offset: view.getUint32(at + 42, true),
      });
      at += 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    }
    return entries;
  }
  throw new ZipFormatError('no zip directory found');
}

/**
 * An entry's content, inflated to at most `maxBytes` (InflateLimitError past it). A zip64 or lying compressed size
 * is read up to the end of the file: raw deflate stops at its own end marker.
 */
export function readEntry(bytes: Uint8Array, entry: ZipEntry, maxBytes: number): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (entry.offset + 30 > bytes.length || view.getUint32(entry.offset, true) !== 0x04034b50) {
    throw new ZipFormatError(`the zip entry ${entry.name} is damaged`);
  }
  if ((entry.flags & 1) !== 0) throw new ZipFormatError(`the zip entry ${entry.name} is encrypted`);
  const start =
    entry.offset + 30 + view.getUint16(entry.offset + 26, true) + view.getUint16(entry.offset + 28, true);
  const declaredEnd = start + entry.compressedSize;
  const end = entry.compressedSize === 0xffffffff || declaredEnd > bytes.length ? bytes.length : declaredEnd;
  const data = bytes.subarray(Math.min(start, bytes.length), end);
  if (entry.method === 0) {
    if (data.length > maxBytes) throw new InflateLimitError();
    return data;
  }
  if (entry.method !== 8) {
    throw new ZipFormatError(`the zip entry ${entry.name} uses compression method ${entry.method}`);
  }
  try {
    // maxOutputLength must be at least 1; a budget of 0 still refuses any output.
    const out = inflateRawSync(data, { maxOutputLength: Math.max(1, maxBytes) });
    if (out.length > maxBytes) throw new InflateLimitError();
    return out;
  } catch (error) {
    if (error instanceof InflateLimitError) throw error;
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') throw new InflateLimitError();
    throw new ZipFormatError(`the zip entry ${entry.name} does not inflate: ${(error as Error).message}`);
  }
}

/** A zip of stored (uncompressed) entries with true sizes and CRCs; no zip64 (the budget keeps it far below 4 GiB). */
export function writeStoredZip(files: ReadonlyMap<string, Uint8Array>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [fileName, data] of files) {
    const name = Buffer.from(fileName, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // names are UTF-8
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    centrals.push(central, name);
    offset += 30 + name.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.size, 8);
  end.writeUInt16LE(files.size, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
