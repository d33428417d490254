// Packs the client SDK as its own npm package, @rivulet/client (packages/client/): the SDK of web/client built by
// Vite with its type declarations, zero dependencies (React is an optional peer, for the hook), none of the server.
//
//   npm run pack:client                  build it and write dist/rivulet-client-<version>.tgz
//   node web/pack-client.ts --out <dir>  the same, the tarball into <dir>
//   node web/pack-client.ts --stage      only build into packages/client/dist/ (the package's prepack does this)
//
// Then, in another app: npm install /path/to/rivulet-client-<version>.tgz

import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { buildClient } from './build.ts';

const root = path.resolve(import.meta.dirname, '..');
export const CLIENT_PACKAGE_DIR = path.join(root, 'packages', 'client');
const PACKAGE_DIST = path.join(CLIENT_PACKAGE_DIR, 'dist');

interface PackageJson {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
}

/** Builds the SDK into packages/client/dist and checks that it stands alone. */
export async function stageClientPackage(): Promise<void> {
  const manifest = JSON.parse(
    readFileSync(path.join(CLIENT_PACKAGE_DIR, 'package.json'), 'utf8'),
  ) as PackageJson;
  const rootManifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as PackageJson;
  if (manifest.version !== rootManifest.version) {
    throw new Error(
      `packages/client/package.json is at ${manifest.version}, the server at ${rootManifest.version}: release them together`,
    );
  }
  if (Object.keys(manifest.dependencies ?? {}).length > 0) {
    throw new Error('@rivulet/client must have no dependencies');
  }
  rmSync(PACKAGE_DIST, { recursive: true, force: true });
  await buildClient(PACKAGE_DIST);
  // The bundles may import each other and React (the optional peer), nothing else.
  for (const file of readdirSync(PACKAGE_DIST).filter((name) => name.endsWith('.js'))) {
    const code = readFileSync(path.join(PACKAGE_DIST, file), 'utf8');
    for (const [, specifier] of code.matchAll(/\bfrom\s*["']([^"']+)["']/gu)) {
      if (specifier !== 'react' && !specifier!.startsWith('./')) {
        throw new Error(`${file} imports ${specifier}: the client package must stand alone`);
      }
    }
  }
}

/** Packs packages/client (its prepack stages it) into `outDir`; returns the tarball's path. */
export function packClientPackage(outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  const output = execFileSync('npm', ['pack', '--json', '--pack-destination', outDir], {
    cwd: CLIENT_PACKAGE_DIR,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    // The prepack runs this file with the same Node (type stripping needs Node 22.6 or later).
    env: {
      ...process.env,
      PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
    },
  });
  // npm may print script output before the JSON: the JSON is the last array in the output.
  const json = output.slice(output.lastIndexOf('\n[') + 1);
  const [packed] = JSON.parse(json.startsWith('[') ? json : output) as { filename: string }[];
  if (packed === undefined) throw new Error(`npm pack printed no tarball: ${output}`);
  return path.join(outDir, packed.filename);
}

if (import.meta.main) {
  if (process.argv.includes('--stage')) {
    await stageClientPackage();
  } else {
    const at = process.argv.indexOf('--out');
    const outDir = path.resolve(at === -1 ? path.join(root, 'dist') : (process.argv[at + 1] ?? '.'));
    const tarball = packClientPackage(outDir);
    console.log(`@rivulet/client packed: ${path.relative(process.cwd(), tarball) || tarball}`);
    console.log(`install it in another app with: npm install ${tarball}`);
  }
}
