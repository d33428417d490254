// Expands the paths and globs given to `rivulet ingest` into files, and reads them as ingest inputs.

import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import type { IngestFile } from './ingest.ts';
import { SUPPORTED_EXTENSIONS } from './loaders.ts';

export interface ExpandedPaths {
  /** Absolute paths, sorted, without duplicates. */
  files: string[];
  /** Arguments that matched nothing. */
  unmatched: string[];
  /**
   * For each file, the directory holding what its argument named (the named directory's or file's parent, or the
   * parent of a glob's fixed part): what a file outside the ingest root is named relative to.
   */
  anchors: Map<string, string>;
}

/**
 * A directory means every supported file under it; a glob means what it matches (any type, so a wrong type is
 * reported rather than silently skipped); a plain path means that file.
 */
export async function expandPaths(args: readonly string[], cwd: string): Promise<ExpandedPaths> {
  const files = new Set<string>();
  const unmatched: string[] = [];
  const anchors = new Map<string, string>();
  const extensions = `{${SUPPORTED_EXTENSIONS.join(',')}}`;
  for (const arg of args) {
    let matches: string[];
    let anchor: string;
    if (isDynamicPattern(arg)) {
      matches = await glob(arg, { cwd, absolute: true, onlyFiles: true });
      anchor = dirname(resolve(cwd, fixedPart(arg)));
    } else {
      const path = resolve(cwd, arg);
      anchor = dirname(path);
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
    for (const match of matches) {
      const file = resolve(match);
      files.add(file);
      if (!anchors.has(file)) anchors.set(file, anchor);
    }
  }
  return { files: [...files].sort(), unmatched, anchors };
}

/** The directories of a glob before its first pattern segment ("docs/**\/*.md" -> "docs"), or "." when none. */
function fixedPart(pattern: string): string {
  const segments = pattern.split('/');
  const fixed: string[] = [];
  for (const segment of segments.slice(0, -1)) {
    if (isDynamicPattern(segment)) break;
    fixed.push(segment);
  }
  if (fixed.length === 0) return '.';
  // "/abs/**" keeps its leading slash.
  return fixed.join('/') === '' ? '/' : fixed.join('/');
}

/** `path` relative to `directory` when it lies inside it, else undefined. */
function inside(path: string, directory: string): string | undefined {
  const relativePath = relative(directory, path);
  return relativePath !== '' && !relativePath.startsWith('..') && !isAbsolute(relativePath)
    ? relativePath
    : undefined;
}

/**
 * The source key of a file, which users and widget visitors see: its path relative to the root, with "/"
 * separators. Never an absolute path: a file outside the root is named relative to `anchor` (the parent of what its
 * argument named: "/tmp/handbook/a.md" from the argument "/tmp/handbook" is "handbook/a.md"), else by its name.
 */
export function sourceFor(path: string, root: string, anchor = dirname(path)): string {
  const relativePath = inside(path, root) ?? inside(path, anchor) ?? basename(path);
  return relativePath.split(sep).join('/');
}

/** Whether a file lies outside the root, so its source comes from its argument instead. */
export function isOutside(path: string, root: string): boolean {
  return inside(path, root) === undefined;
}

/**
 * Reads files lazily, one at a time, so a large batch never sits in memory at once. `anchors` (from expandPaths)
 * names the files outside the root.
 */
export async function* readFiles(
  paths: readonly string[],
  root: string,
  anchors?: ReadonlyMap<string, string>,
): AsyncGenerator<IngestFile> {
  for (const path of paths) {
    const source = sourceFor(path, root, anchors?.get(path));
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
