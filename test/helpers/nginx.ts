// nginx for tests: Debian's binary in the foreground, as the test's own process (never the system service), with a
// config the test writes into a temporary directory, listening on a loopback port. Without nginx, tests skip and say
// so (NGINX_SKIP_REASON).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

export const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'].find(
  (path) => existsSync(path),
);
export const NGINX_SKIP_REASON =
  NGINX === undefined ? 'nginx is not installed (apt-get install nginx; .ci/run installs it)' : undefined;

export interface Nginx {
  /** http://127.0.0.1:port */
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts nginx with `http` (the inside of its http block, given the port to listen on) and waits until it answers
 * GET /healthz with any status.
 */
export async function startNginx(http: (port: number) => string): Promise<Nginx> {
  if (NGINX === undefined) throw new Error(NGINX_SKIP_REASON);
  const dir = await mkdtemp(join(tmpdir(), 'rivulet-nginx-'));
  const port = await freePort();
  await writeFile(
    join(dir, 'nginx.conf'),
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${http(port)}
}
`,
  );
  const child: ChildProcess = spawn(
    NGINX,
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    if (await answers(url)) break;
    if (Date.now() > deadline) throw new Error(`nginx did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = httpRequest(`${url}/healthz`, { agent: false }, (response) => {
      response.resume();
      resolve(true);
    });
    request.on('error', () => resolve(false));
    request.end();
  });
}

/**
 * The inside of nginx's http block from deploy/nginx/rivulet.conf, the file the repository ships, with its marked
 * lines replaced: these instances in `upstream rivulet`, and a loopback listen on `port`.
 */
export function shippedConfig(instances: readonly string[], port: number): string {
  const shipped = readFileSync(new URL('../../deploy/nginx/rivulet.conf', import.meta.url), 'utf8');
  const lines = shipped.split('\n');
  const out: string[] = [];
  let replaced = 0;
  for (const line of lines) {
    if (line.includes('# @instances')) {
      replaced += 1;
      for (const instance of instances) out.push(`  server ${new URL(instance).host} max_fails=0;`);
    } else if (line.includes('# @listen')) {
      replaced += 1;
      out.push(`  listen 127.0.0.1:${port};`);
    } else out.push(line);
  }
  if (replaced !== 2) throw new Error('deploy/nginx/rivulet.conf lost its @instances or @listen line');
  return out.join('\n');
}
