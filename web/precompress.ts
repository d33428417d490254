// Writes brotli (.br) and gzip (.gz) copies of the built app and widget beside each file, so the server sends them
// compressed without compressing on every request (@fastify/static `preCompressed`, src/transports/http/routes/web.ts).

import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

/** Text the browser loads; source maps too (they are large, and only fetched by developer tools). */
const COMPRESSIBLE = /\.(?:html|js|mjs|css|svg|json|map|txt)$/;
/** Below this a compressed copy saves less than a packet. */
const MIN_BYTES = 1024;

export interface PrecompressReport {
  /** Files given compressed copies. */
  files: number;
  /** Sizes by file path relative to `dir`: identity, brotli and gzip bytes. */
  sizes: Map<string, { identity: number; br: number; gzip: number }>;
}

/**
 * Compresses once at build time what every visitor downloads: brotli at its best quality and gzip at level 9, which
 * would cost tens of milliseconds of CPU per request if done on the fly. A copy no smaller than its file is not kept.
 */
export async function precompress(dir: string): Promise<PrecompressReport> {
  const sizes: PrecompressReport['sizes'] = new Map();
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile() || !COMPRESSIBLE.test(entry.name)) continue;
    const file = path.join(entry.parentPath, entry.name);
    const content = await readFile(file);
    if (content.length < MIN_BYTES) continue;
    const [br, gz] = await Promise.all([
      brotli(content, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
          [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
          [constants.BROTLI_PARAM_SIZE_HINT]: content.length,
        },
      }),
      gzipAsync(content, { level: constants.Z_BEST_COMPRESSION }),
    ]);
    if (br.length < content.length) await writeFile(`${file}.br`, br);
    if (gz.length < content.length) await writeFile(`${file}.gz`, gz);
    sizes.set(path.relative(dir, file), { identity: content.length, br: br.length, gzip: gz.length });
  }
  return { files: sizes.size, sizes };
}
