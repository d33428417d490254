// Expands the paths and globs given to `rivulet ingest` into files, and reads them as ingest inputs.

import { readFile, stat } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import type { IngestFile } from './ingest.ts';
import { SUPPORTED_EXTENSIONS } from './loaders.ts';

export interface ExpandedPaths {
  /** Absolute paths, sorted, without duplicates. */
  files: string[];
  /** Arguments that matched nothing. */
  unmatched: string[];
}

/**
 * A directory means every supported file under it; a glob means what it matches (any type, so a wrong type is
 * reported rather than silently skipped); a plain path means that file.
 */
export async function expandPaths(args: readonly string[], cwd: string): Promise<ExpandedPaths> {
  const files = new Set<string>();
  const unmatched: string[] = [];
  const extensions = `{${SUPPORTED_EXTENSIONS.join(',')}}`;
  for (const arg of args) {
    let matches: string[];
    if (isDynamicPattern(arg)) {
      matches = await glob(arg, { cwd, absolute: true, onlyFiles: true });
    } else {
      const path = resolve(cwd, arg);
      const info = await stat(path).catch(() => undefined);
      if (info === undefined) matches = [];
      else if (info.isDirectory()) {
        matches = await glob(`**/*.${extensions}`, {
          cwd: path,
          absolute: true,
          onlyFiles: true,
          caseSensitiveMatch: false,
        });
      } else matches = [path];
    }
    if (matches.length === 0) unmatched.push(arg);
    for (const match of matches) files.add(resolve(match));
  }
  return { files: [...files].sort(), unmatched };
}

/** The source key of a file: its path relative to the root, with "/" separators. */
export function sourceFor(path: string, root: string): string {
  const relativePath = relative(root, path);
  const inside = relativePath !== '' && !relativePath.startsWith('..');
  return (inside ? relativePath : path).split(sep).join('/');
}

/** Reads files lazily, one at a time, so a large batch never sits in memory at once. */
export async function* readFiles(paths: readonly string[], root: string): AsyncGenerator<IngestFile> {
  for (const path of paths) {
    const source = sourceFor(path, root);
    try {
      const buffer = await readFile(path);
      // A plain Uint8Array view, not the Buffer: pdf.js (unpdf) rejects Buffers, so every PDF would fail.
      yield { source, bytes: new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength) };
    } catch (error) {
      // A file that vanished or is not readable fails alone; the batch goes on.
      yield {
        source,
        bytes: new Uint8Array(),
        readError: (error as NodeJS.ErrnoException).code ?? 'read failed',
      };
    }
  }
}
