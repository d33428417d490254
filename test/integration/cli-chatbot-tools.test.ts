// `rivulet chatbots` sets and shows a chatbot's agent tools: flags and --tools-file (the admin API's `tools`, checked
// by the same schema), `show` masks MCP secrets as the admin API does, bad input gets a coded error and exit 2.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MASKED_SECRET, withSecretsMasked } from '../../src/core/chatbots.ts';
import { rivulet, withStores } from '../helpers/cli.ts';

const SECRET = 'sk-live-do-not-print-7f3a';

describe('rivulet chatbots: agent tools', () => {
  let cwd: string;
  let dataDir: string;
  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'rivulet-cli-tools-'));
    dataDir = join(cwd, 'data');
  });
  afterAll(() => rm(cwd, { recursive: true, force: true }));

  const run = (...args: string[]) => rivulet(['chatbots', ...args], cwd, dataDir);
  const stored = (id: string) => withStores(dataDir, (stores) => stores.chatbots.getChatbot(id));

  it('sets tools from flags, shows them in a summary, and turns them off with --no-tools', async () => {
    const created = await run(
      'create',
      'agent',
      '--search-documents',
      '--max-steps',
      '3',
      '--mcp-stdio',
      'files=node ./mcp/files.js --root /srv/docs',
      '--mcp-http',
      'wiki=https://mcp.example/mcp',
    );
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toContain(
      'tools          search_documents; MCP files (stdio), wiki (https://mcp.example/mcp); max 3 steps',
    );
    expect((await stored('agent'))?.tools).toEqual({
      searchDocuments: true,
      maxSteps: 3,
      allowedTools: null,
      mcpServers: [
        {
          name: 'files',
          transport: 'stdio',
          command: 'node',
          args: ['./mcp/files.js', '--root', '/srv/docs'],
          env: {},
          timeoutMs: null,
          maxResultChars: null,
        },
        {
          name: 'wiki',
          transport: 'http',
          url: 'https://mcp.example/mcp',
          headers: {},
          timeoutMs: null,
          maxResultChars: null,
        },
      ],
    });

    // One flag changes one thing: the servers and the step cap stay.
    const narrowed = await run('update', 'agent', '--no-search-documents', '--allowed-tools', 'wiki__search');
    expect(narrowed.code).toBe(0);
    expect(narrowed.stdout).toContain(
      'tools          MCP files (stdio), wiki (https://mcp.example/mcp); only wiki__search; max 3 steps',
    );

    const off = await run('update', 'agent', '--no-tools');
    expect(off.code).toBe(0);
    expect(off.stdout).toContain('tools          (none: one model call)');
    expect((await stored('agent'))?.tools).toMatchObject({
      searchDocuments: false,
      mcpServers: [],
      allowedTools: null,
    });
  }, 120_000);

  it('reads --tools-file like the admin API, shows it with secrets masked, and keeps them when the masked form comes back', async () => {
    const tools = {
      searchDocuments: true,
      maxSteps: 4,
      mcpServers: [
        {
          name: 'crm',
          transport: 'http',
          url: 'https://crm.example/mcp',
          headers: { Authorization: `Bearer ${SECRET}` },
          timeoutMs: 5000,
        },
        { name: 'local', transport: 'stdio', command: 'node', args: ['srv.js'], env: { API_KEY: SECRET } },
      ],
    };
    const file = join(cwd, 'tools.json');
    await writeFile(file, JSON.stringify(tools));
    const created = await run('create', 'crm-bot', '--tools-file', file, '--max-steps', '6');
    expect(created.code).toBe(0);
    expect(created.stdout).not.toContain(SECRET);
    const saved = await stored('crm-bot');
    expect(saved?.tools.maxSteps).toBe(6); // the flag applies on top of the file
    expect(saved?.tools.mcpServers[0]).toMatchObject({ headers: { Authorization: `Bearer ${SECRET}` } });

    const shown = await run('show', 'crm-bot');
    expect(shown.code).toBe(0);
    expect(shown.stdout).not.toContain(SECRET);
    // Exactly what GET /api/chatbots/crm-bot returns.
    expect(JSON.parse(shown.stdout)).toEqual(JSON.parse(JSON.stringify(withSecretsMasked(saved!))));
    const shownTools = (JSON.parse(shown.stdout) as { tools: typeof tools }).tools;
    expect(shownTools.mcpServers[0]?.headers).toEqual({ Authorization: MASKED_SECRET });
    expect(shownTools.mcpServers[1]?.env).toEqual({ API_KEY: MASKED_SECRET });

    // Edit what show printed (masked) and send it back: the secrets stay as stored.
    await writeFile(file, JSON.stringify({ ...shownTools, maxSteps: 2 }));
    expect((await run('update', 'crm-bot', '--tools-file', file)).code).toBe(0);
    const after = await stored('crm-bot');
    expect(after?.tools.maxSteps).toBe(2);
    expect(
      after?.tools.mcpServers.map((server) => (server.transport === 'http' ? server.headers : server.env)),
    ).toEqual([{ Authorization: `Bearer ${SECRET}` }, { API_KEY: SECRET }]);
  }, 120_000);

  it('refuses bad tool options with a coded error, exit 2, and changes nothing', async () => {
    expect((await run('create', 'strict', '--search-documents')).code).toBe(0);
    const file = join(cwd, 'bad.json');
    const cases: Array<{ args: string[]; file?: string; code: string; says: RegExp }> = [
      { args: ['--max-steps', '50'], code: 'VALIDATION_FAILED', says: /tools\.maxSteps/ },
      { args: ['--max-steps', 'many'], code: 'VALIDATION_FAILED', says: /tools\.maxSteps/ },
      { args: ['--mcp-http', 'wiki'], code: 'VALIDATION_FAILED', says: /--mcp-http takes name=url/ },
      {
        args: ['--mcp-http', 'wiki=ftp://x.example'],
        code: 'VALIDATION_FAILED',
        says: /must be an http\(s\) URL/,
      },
      {
        args: ['--mcp-stdio', 'bad name=node x.js'],
        code: 'VALIDATION_FAILED',
        says: /tools\.mcpServers\.0\.name/,
      },
      {
        args: ['--mcp-http', 'a=https://a.example', '--mcp-stdio', 'a=node a.js'],
        code: 'VALIDATION_FAILED',
        says: /MCP server names must be unique/,
      },
      { args: ['--no-tools', '--search-documents'], code: 'VALIDATION_FAILED', says: /cannot be combined/ },
      { args: ['--tools-file', join(cwd, 'missing.json')], code: 'VALIDATION_FAILED', says: /ENOENT/ },
      {
        args: ['--tools-file', file],
        file: '{"searchDocuments": tru',
        code: 'INVALID_JSON',
        says: /not valid JSON/,
      },
      {
        args: ['--tools-file', file],
        file: '{"searchDocs": true}',
        code: 'VALIDATION_FAILED',
        says: /searchDocs/,
      },
      { args: ['--tools-file', file], file: '[]', code: 'VALIDATION_FAILED', says: /JSON object/ },
    ];
    for (const { args, file: content, code, says } of cases) {
      if (content !== undefined) await writeFile(file, content);
      const result = await run('update', 'strict', ...args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(new RegExp(`^${code}: `));
      expect(result.stderr).toMatch(says);
    }
    expect((await stored('strict'))?.tools).toMatchObject({ searchDocuments: true, mcpServers: [] });
  }, 240_000); // a dozen CLI processes
});
