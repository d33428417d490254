// A chatbot's agent tools through the admin API on a real port: set, shown with secrets masked, refused when bad.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access -- reply bodies are read field by field */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signTestJwt } from '../helpers/jwt.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const SECRET = 'tools-test-secret-of-more-than-32-characters';

describe('chatbot tools in the admin API', () => {
  let server: TestServer;
  let root: string;
  let acmeAdmin: string;

  beforeAll(async () => {
    server = await startTestServer({ AUTH_JWT_SECRET: SECRET });
    root = await signTestJwt(SECRET, 'root', { role: 'admin' });
    acmeAdmin = await signTestJwt(SECRET, 'ana', { org: 'acme', roles: ['admin'] });
  });
  afterAll(() => server?.close());

  const api = async (method: string, path: string, bearer: string, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${bearer}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? null : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };

  const tools = {
    searchDocuments: true,
    maxSteps: 4,
    mcpServers: [
      {
        name: 'crm',
        transport: 'http',
        url: 'https://mcp.example/mcp',
        headers: { authorization: 'Bearer crm-secret' },
      },
      {
        name: 'files',
        transport: 'stdio',
        command: 'node',
        args: ['server.js'],
        env: { TOKEN: 'file-secret' },
      },
    ],
  };

  it('stores tools with defaults, and never returns header or env values', async () => {
    const created = await api('POST', '/api/chatbots', root, { id: 'agent', tools });
    expect(created.status).toBe(201);
    expect(JSON.stringify(created.body)).not.toMatch(/crm-secret|file-secret/);
    const shown = await api('GET', '/api/chatbots/agent', root);
    expect(shown.body.tools).toEqual({
      searchDocuments: true,
      maxSteps: 4,
      allowedTools: null,
      mcpServers: [
        {
          ...tools.mcpServers[0],
          headers: { authorization: '********' },
          timeoutMs: null,
          maxResultChars: null,
        },
        { ...tools.mcpServers[1], env: { TOKEN: '********' }, timeoutMs: null, maxResultChars: null },
      ],
    });
    const listed = await api('GET', '/api/chatbots', root);
    expect(JSON.stringify(listed.body)).not.toMatch(/crm-secret|file-secret/);
  });

  it('keeps a secret sent back masked, and changes one sent anew', async () => {
    const shown = await api('GET', '/api/chatbots/agent', root);
    const servers = shown.body.tools.mcpServers as Array<Record<string, any>>;
    servers[1]!.env = { TOKEN: 'rotated' };
    const patched = await api('PATCH', '/api/chatbots/agent', root, {
      tools: { mcpServers: servers, maxSteps: 6 },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.tools.maxSteps).toBe(6);
    const stored = await server.app.stores.chatbots.getChatbot('agent');
    expect(stored?.tools.mcpServers).toMatchObject([
      { headers: { authorization: 'Bearer crm-secret' } },
      { env: { TOKEN: 'rotated' } },
    ]);
    expect(stored?.tools.searchDocuments).toBe(true);
  });

  it('refuses bad tool settings with VALIDATION_FAILED naming the field', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ maxSteps: 0 }, /tools\.maxSteps/],
      [{ maxSteps: 21 }, /tools\.maxSteps/],
      [
        { mcpServers: [{ name: 'bad name', transport: 'stdio', command: 'x' }] },
        /tools\.mcpServers\.0\.name/,
      ],
      [{ mcpServers: [{ name: 'x', transport: 'ftp' }] }, /tools\.mcpServers\.0/],
      [
        { mcpServers: [{ name: 'x', transport: 'http', url: 'file:///etc/passwd' }] },
        /url: must be an http\(s\) URL/,
      ],
      [
        {
          mcpServers: [
            { name: 'x', transport: 'http', url: 'https://a.example' },
            { name: 'x', transport: 'http', url: 'https://b.example' },
          ],
        },
        /unique/,
      ],
      [{ unknown: true }, /tools/],
    ];
    for (const [bad, message] of cases) {
      const reply = await api('PATCH', '/api/chatbots/agent', root, { tools: bad });
      expect(reply.status).toBe(400);
      expect(reply.body.error.code).toBe('VALIDATION_FAILED');
      expect(reply.body.error.message).toMatch(message);
    }
  });

  it("lets only admins of no organisation configure MCP servers; an organisation's admin sets the rest", async () => {
    const created = await api('POST', '/api/chatbots', acmeAdmin, { id: 'acme-agent', orgId: 'acme' });
    expect(created.status).toBe(201);
    const refused = await api('PATCH', '/api/chatbots/acme-agent', acmeAdmin, {
      tools: { mcpServers: tools.mcpServers },
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('FORBIDDEN');
    const allowed = await api('PATCH', '/api/chatbots/acme-agent', acmeAdmin, {
      tools: { searchDocuments: true },
    });
    expect(allowed.body.tools).toMatchObject({ searchDocuments: true, maxSteps: 5, mcpServers: [] });
  });
});
