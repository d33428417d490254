// The client SDK as another app gets it: `npm run pack:client`'s tarball installed into a fresh project (offline: it
// has no dependencies), imported from Node as ESM against a real server, and type-checked by a strict tsc.

import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const TSC = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
/** npm and the packing script find this Node first (type stripping needs Node 22.6 or later). */
const env = {
  ...process.env,
  PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
};

let work: string;
let tarball: string;
let app: string;
let server: TestServer;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'rivulet-client-pack-'));
  const packed = await run(
    process.execPath,
    [path.join(root, 'web', 'pack-client.ts'), '--out', path.join(work, 'out')],
    {
      cwd: root,
      env,
    },
  );
  tarball = path.join(
    work,
    'out',
    readdirSync(path.join(work, 'out')).find((name) => name.endsWith('.tgz'))!,
  );
  expect(packed.stdout).toContain(`npm install ${tarball}`);

  app = path.join(work, 'app');
  await run('mkdir', ['-p', app]);
  writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
  );
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], { cwd: app, env });
  server = await startTestServer({}, { tokenCount: 12, seed: 5 });
}, 180_000);

afterAll(async () => {
  await server?.close();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('@rivulet/client package', () => {
  it('holds the built SDK and its declarations, none of the server', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout.trim().split('\n').sort();
    expect(files).toContain('package/package.json');
    expect(files).toContain('package/README.md');
    expect(files).toContain('package/dist/index.js');
    expect(files).toContain('package/dist/react.js');
    expect(files).toContain('package/dist/types/web/client/index.d.ts');
    for (const file of files) {
      // Code is the SDK's own bundles; everything else is declarations (the event types are the server's,
      // as types only), the manifest and the readme.
      expect(file, file).toMatch(
        /^package\/(package\.json|README\.md|dist\/[\w-]+\.js|dist\/types\/(web\/client|src\/core|src\/transports\/encoders)\/[\w-]+\.d\.ts)$/u,
      );
    }
    const installed = path.join(app, 'node_modules', '@rivulet', 'client');
    for (const file of readdirSync(path.join(installed, 'dist')).filter((name) => name.endsWith('.js'))) {
      const code = readFileSync(path.join(installed, 'dist', file), 'utf8');
      expect(code, file).not.toMatch(/\bfrom\s*["'](node:|fastify|pino|zod|undici|sqlite|ws["'])/u);
    }
  });

  it('installs alone: no dependencies, React only an optional peer, nothing else in node_modules', () => {
    const manifest = JSON.parse(
      readFileSync(path.join(app, 'node_modules', '@rivulet', 'client', 'package.json'), 'utf8'),
    ) as Record<string, unknown>;
    expect(manifest.name).toBe('@rivulet/client');
    expect(manifest.dependencies).toBeUndefined();
    expect(manifest.peerDependenciesMeta).toEqual({ react: { optional: true } });
    const rootVersion = (
      JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }
    ).version;
    expect(manifest.version).toBe(rootVersion);
    const modules = readdirSync(path.join(app, 'node_modules')).filter((name) => !name.startsWith('.'));
    expect(modules).toEqual(['@rivulet']);
    expect(readdirSync(path.join(app, 'node_modules', '@rivulet'))).toEqual(['client']);
  });

  it('streams an answer from a real server when imported from Node as ESM', async () => {
    writeFileSync(
      path.join(app, 'consumer.mjs'),
      `import { RivuletClient, RivuletClientError, createSseParser } from '@rivulet/client';
const client = new RivuletClient({ baseUrl: process.argv[2] });
const stream = client.chat({ message: 'what does the guide say?', metadata: { from: 'consumer' } });
const types = [];
let conversationId = '';
for await (const event of stream) {
  types.push(event.type);
  if (event.type === 'start') conversationId = event.conversationId;
}
const { messages } = await client.conversationMessages(conversationId);
console.log(JSON.stringify({
  types,
  text: stream.text,
  stored: messages.map((message) => [message.role, message.metadata ?? null]),
  errorClass: typeof RivuletClientError,
  parser: typeof createSseParser,
}));
`,
    );
    const { stdout } = await run(process.execPath, ['consumer.mjs', server.url], { cwd: app, env });
    const result = JSON.parse(stdout) as {
      types: string[];
      text: string;
      stored: [string, unknown][];
      errorClass: string;
      parser: string;
    };
    expect(result.types[0]).toBe('start');
    expect(result.types.at(-1)).toBe('done');
    expect(result.types).toContain('sources');
    expect(result.text).toBe(server.upstream.fullText());
    expect(result.stored).toEqual([
      ['user', { from: 'consumer' }],
      ['assistant', null],
    ]);
    expect(result.errorClass).toBe('function');
    expect(result.parser).toBe('function');
  });

  it('type-checks in a strict TypeScript consumer against its declarations (skipLibCheck off)', async () => {
    writeFileSync(
      path.join(app, 'consumer.ts'),
      `import {
  RivuletClient,
  type ChatRequest,
  type RunEvent,
  type SourcesEvent,
  type StoredMessage,
} from '@rivulet/client';
import type { UseChat } from '@rivulet/client/react';

const client = new RivuletClient({ baseUrl: 'http://127.0.0.1:3000' });
const request: ChatRequest = { message: 'hello', metadata: { page: '/pricing', tags: ['a'], n: 1 } };

export async function answer(): Promise<string> {
  let text = '';
  for await (const event of client.chat(request)) {
    if (event.type === 'token') text += event.text;
    if (event.type === 'sources') describeMatch(event);
  }
  return text;
}

function describeMatch(event: SourcesEvent): string {
  return event.match.quality === 'none' ? 'no matching documents' : event.match.quality;
}

export function label(event: RunEvent): string {
  switch (event.type) {
    case 'token':
      return event.text;
    case 'error':
      return event.code;
    default:
      return event.type;
  }
}

export const metadataOf = (message: StoredMessage): Record<string, unknown> | undefined => message.metadata;
export type Hook = UseChat['send'];

// @ts-expect-error: not an event type: the declarations are real types, not any.
export const wrong: RunEvent['type'] = 'chunk';
`,
    );
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2023',
          lib: ['es2023', 'DOM', 'DOM.Iterable'],
          types: [],
          skipLibCheck: false,
          noEmit: true,
        },
        files: ['consumer.ts'],
      }),
    );
    // The React hook's declarations name React's types only through the hook's own options: no @types/react needed.
    const result = await run(process.execPath, [TSC, '-p', app], { cwd: app, env }).catch(
      (error: { stdout: string; stderr: string }) => error,
    );
    expect(`${result.stdout}${result.stderr}`).toBe('');
  });
});
