// Builds the browser code with Vite: the web app (dist/web/), the widget (dist/web/widget.js, one IIFE file with
// its CSS inside, checked against its 30 KB gzip budget) and the client SDK as ES modules (dist/client/); the app and
// widget files get precompressed .br and .gz copies the server sends to browsers that accept them.
//
//   node web/build.ts             build everything
//   node web/build.ts --if-stale  only when web/ or the lockfile changed since the last build (npm start uses it)

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { build, type InlineConfig } from 'vite';
import { precompress } from './precompress.ts';

const root = path.resolve(import.meta.dirname, '..');
const webDir = path.join(root, 'web');
export const WEB_DIST = path.join(root, 'dist', 'web');
export const CLIENT_DIST = path.join(root, 'dist', 'client');
const STAMP = path.join(WEB_DIST, 'build-info.json');
/** The widget goes on other people's pages: it must stay small. */
export const WIDGET_GZIP_BUDGET_BYTES = 30 * 1024;

/** Everything that shapes the output: web/ sources, the src/ files they import, the lockfile. */
async function inputsHash(): Promise<string> {
  const hash = createHash('sha256');
  const files = [
    ...(await readdir(webDir, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => path.join(entry.parentPath, entry.name)),
    path.join(root, 'package-lock.json'),
  ].sort();
  for (const file of files) {
    hash.update(path.relative(root, file));
    hash.update(await readFile(file));
  }
  return hash.digest('hex');
}

function common(): InlineConfig {
  return {
    configFile: false,
    logLevel: 'warn',
    oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
    // The SDK's React hook runs on Preact's hooks in our own bundles.
    resolve: { alias: { react: 'preact/hooks' } },
  };
}

/**
 * The client SDK alone, as ES modules with source maps and type declarations (`types/`): into dist/client/ by
 * default (what `rivulet/client` resolves to in this repository), into packages/client/dist/ for the
 * @rivulet/client package (web/pack-client.ts).
 */
export async function buildClient(outDir = CLIENT_DIST): Promise<void> {
  await build({
    ...common(),
    build: {
      outDir,
      emptyOutDir: true,
      sourcemap: true,
      minify: false,
      lib: {
        entry: {
          index: path.join(webDir, 'client', 'index.ts'),
          react: path.join(webDir, 'client', 'react.ts'),
        },
        formats: ['es'],
      },
      rolldownOptions: { external: ['react'] },
    },
    resolve: {},
  });
  // The SDK's type declarations (<outDir>/types), for TypeScript users.
  execFileSync(
    process.execPath,
    [
      path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      path.join(webDir, 'client', 'tsconfig.dts.json'),
      '--outDir',
      path.join(outDir, 'types'),
    ],
    { stdio: 'inherit' },
  );
}

export interface BuildReport {
  widgetBytes: number;
  widgetGzipBytes: number;
  /** What a browser that accepts brotli downloads (the precompressed widget.js.br). */
  widgetBrotliBytes: number;
  skipped: boolean;
}

export async function buildWeb(options: { ifStale?: boolean } = {}): Promise<BuildReport> {
  const hash = await inputsHash();
  if (options.ifStale === true && existsSync(STAMP)) {
    const stamp = JSON.parse(readFileSync(STAMP, 'utf8')) as Omit<BuildReport, 'skipped'> & { hash: string };
    // A stamp from before precompression (no brotli size) means the .br and .gz copies are missing: rebuild.
    if (stamp.hash === hash && stamp.widgetBrotliBytes !== undefined)
      return {
        widgetBytes: stamp.widgetBytes,
        widgetGzipBytes: stamp.widgetGzipBytes,
        widgetBrotliBytes: stamp.widgetBrotliBytes,
        skipped: true,
      };
  }
  await build({
    ...common(),
    root: path.join(webDir, 'app'),
    base: '/',
    build: { outDir: WEB_DIST, emptyOutDir: true, assetsDir: 'assets', sourcemap: true },
  });
  await build({
    ...common(),
    define: { 'process.env.NODE_ENV': '"production"' },
    build: {
      outDir: WEB_DIST,
      emptyOutDir: false,
      sourcemap: false,
      lib: {
        entry: path.join(webDir, 'widget', 'widget.tsx'),
        formats: ['iife'],
        name: 'RivuletWidget',
        fileName: () => 'widget.js',
      },
    },
  });
  await buildClient();
  const compressed = await precompress(WEB_DIST);
  const widget = readFileSync(path.join(WEB_DIST, 'widget.js'));
  const report = {
    widgetBytes: widget.length,
    // The widget.js.gz browsers without brotli download (gzip level 9).
    widgetGzipBytes: compressed.sizes.get('widget.js')?.gzip ?? widget.length,
    widgetBrotliBytes: compressed.sizes.get('widget.js')?.br ?? widget.length,
    skipped: false,
  };
  writeFileSync(STAMP, JSON.stringify({ hash, ...report, builtAt: new Date().toISOString() }, null, 2));
  return report;
}

if (import.meta.main) {
  const report = await buildWeb({ ifStale: process.argv.includes('--if-stale') });
  const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;
  const verdict = report.widgetGzipBytes <= WIDGET_GZIP_BUDGET_BYTES ? 'within' : 'OVER';
  console.log(
    `${report.skipped ? 'web build up to date' : 'web built'}: dist/web (app), dist/client (SDK); widget.js ` +
      `${kb(report.widgetBytes)}, ${kb(report.widgetGzipBytes)} gzipped (${verdict} the ${kb(WIDGET_GZIP_BUDGET_BYTES)} budget), ` +
      `${kb(report.widgetBrotliBytes)} as served with brotli`,
  );
  if (verdict === 'OVER') process.exitCode = 1;
}
