// The admin API over real HTTP (/api/chatbots, /api/me) with organisations and roles, and the same administration
// from the real CLI in a child process (rivulet chatbots, rivulet keys).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Chatbot } from '../../src/core/chatbots.ts';
import { startFakeUpstream, type FakeUpstream } from '../fakes/openai-upstream.ts';
import { rivulet, withStores } from '../helpers/cli.ts';
import { signTestJwt } from '../helpers/jwt.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const SECRET = 'admin-test-secret-of-more-than-32-characters';

const token = (sub: string, claims: Record<string, unknown> = {}): Promise<string> =>
  signTestJwt(SECRET, sub, claims);

describe('admin API', () => {
  let server: TestServer;
  let root: string;
  let acmeAdmin: string;
  let acmeMember: string;
  let globexAdmin: string;

  beforeAll(async () => {
    server = await startTestServer({ AUTH_JWT_SECRET: SECRET });
    root = await token('root', { role: 'admin' });
    acmeAdmin = await token('ana', { org: 'acme', roles: ['admin'] });
    acmeMember = await token('bob', { org: 'acme' });
    globexAdmin = await token('gus', { org: 'globex', role: 'admin' });
  });
  afterAll(() => server?.close());

  const api = async (method: string, path: string, bearer: string | undefined, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(bearer === undefined ? {} : { authorization: `Bearer ${bearer}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
    };
  };
  const code = (reply: { body: Record<string, unknown> | undefined }): unknown =>
    (reply.body?.error as { code?: unknown } | undefined)?.code;

  it('GET /api/me says who the caller is', async () => {
    expect((await api('GET', '/api/me', acmeAdmin)).body).toEqual({
      id: 'user:ana',
      kind: 'user',
      orgId: 'acme',
      admin: true,
    });
    expect((await api('GET', '/api/me', acmeMember)).body).toMatchObject({ admin: false, orgId: 'acme' });
    expect(code(await api('GET', '/api/me', undefined))).toBe('UNAUTHORIZED');
  });

  it('an organisation admin creates, edits and deletes its chatbots; its members read them', async () => {
    const created = await api('POST', '/api/chatbots', acmeAdmin, {
      id: 'acme-help',
      name: 'Acme help',
      model: 'gpt-4o-mini',
      systemPrompt: 'Answer for Acme customers.',
      temperature: 0.2,
      visibility: 'public',
      allowedOrigins: ['https://acme.example'],
      limits: { tokensPerDay: 100_000 },
      glossary: [{ term: 'SLA', definition: 'service level agreement' }],
    });
    expect(created.status).toBe(201);
    // Created in the admin's own organisation, with its collection named after it.
    expect(created.body).toMatchObject({
      id: 'acme-help',
      orgId: 'acme',
      collectionId: 'acme-help',
      model: 'gpt-4o-mini',
    });

    const again = await api('POST', '/api/chatbots', acmeAdmin, { id: 'acme-help' });
    expect(again.status).toBe(409);
    expect(code(again)).toBe('CHATBOT_EXISTS');

    const patched = await api('PATCH', '/api/chatbots/acme-help', acmeAdmin, {
      temperature: 0.7,
      model: null,
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      temperature: 0.7,
      model: null,
      name: 'Acme help',
      visibility: 'public',
    });

    // Members read their organisation's chatbots (and the shared default), nothing else.
    const listed = await api('GET', '/api/chatbots', acmeMember);
    expect((listed.body?.chatbots as Chatbot[]).map((chatbot) => chatbot.id).sort()).toEqual([
      'acme-help',
      'default',
    ]);
    expect((await api('GET', '/api/chatbots/acme-help', acmeMember)).status).toBe(200);
    expect(code(await api('PATCH', '/api/chatbots/acme-help', acmeMember, { name: 'mine' }))).toBe(
      'FORBIDDEN',
    );
    expect(code(await api('POST', '/api/chatbots', acmeMember, { id: 'x' }))).toBe('FORBIDDEN');

    // Another organisation does not see it at all.
    expect(code(await api('GET', '/api/chatbots/acme-help', globexAdmin))).toBe('CHATBOT_NOT_FOUND');
    expect(code(await api('DELETE', '/api/chatbots/acme-help', globexAdmin))).toBe('CHATBOT_NOT_FOUND');
    const globexList = await api('GET', '/api/chatbots', globexAdmin);
    expect((globexList.body?.chatbots as Chatbot[]).map((chatbot) => chatbot.id)).not.toContain('acme-help');

    expect((await api('DELETE', '/api/chatbots/acme-help', acmeAdmin)).status).toBe(204);
    expect(code(await api('GET', '/api/chatbots/acme-help', acmeAdmin))).toBe('CHATBOT_NOT_FOUND');
  });

  it('an organisation admin cannot create for another organisation; an admin of none can', async () => {
    const refused = await api('POST', '/api/chatbots', acmeAdmin, { id: 'globex-bot', orgId: 'globex' });
    expect(refused.status).toBe(403);
    expect(code(refused)).toBe('FORBIDDEN');
    const made = await api('POST', '/api/chatbots', root, { id: 'globex-bot', orgId: 'globex' });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ orgId: 'globex' });
    expect((await api('GET', '/api/chatbots/globex-bot', globexAdmin)).status).toBe(200);
  });

  it('shared chatbots and other organisations’ collections are out of an organisation admin’s reach', async () => {
    // The default chatbot is shared by every organisation: only an admin of none may change it or its documents.
    const takeover = await api('PATCH', '/api/chatbots/default', acmeAdmin, {
      orgId: 'acme',
      systemPrompt: 'Evil',
    });
    expect(takeover.status).toBe(403);
    expect(code(takeover)).toBe('FORBIDDEN');
    expect(code(await api('DELETE', '/api/chatbots/default', acmeAdmin))).toBe('FORBIDDEN');
    const upload = new FormData();
    upload.append('file', new Blob(['hello']), 'note.txt');
    const uploaded = await fetch(`${server.url}/api/documents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${acmeAdmin}` },
      body: upload,
    });
    expect(uploaded.status).toBe(403);
    expect((await api('GET', '/api/chatbots/default', globexAdmin)).body).toMatchObject({ orgId: null });

    // Pointing a chatbot at a collection that globex's chatbot uses would read and delete globex's documents.
    expect((await api('POST', '/api/chatbots', globexAdmin, { id: 'globex-private' })).status).toBe(201);
    const squat = await api('POST', '/api/chatbots', acmeAdmin, {
      id: 'acme-spy',
      collectionId: 'globex-private',
    });
    expect(squat.status).toBe(403);
    expect(JSON.stringify(squat.body)).toMatch(/cannot be used by your chatbots: choose another name/);
    expect((await api('POST', '/api/chatbots', acmeAdmin, { id: 'acme-spy' })).status).toBe(201);
    const moved = await api('PATCH', '/api/chatbots/acme-spy', acmeAdmin, { collectionId: 'globex-private' });
    expect(code(moved)).toBe('FORBIDDEN');
  });

  it('a collection a deleted chatbot left behind stays its organisation’s (regression: adopted by another)', async () => {
    expect((await api('POST', '/api/chatbots', globexAdmin, { id: 'globex-old' })).status).toBe(201);
    const form = new FormData();
    form.append('file', new Blob(['Globex salary bands: secret.']), 'salaries.txt');
    const uploaded = await fetch(`${server.url}/api/documents?chatbotId=globex-old`, {
      method: 'POST',
      headers: { authorization: `Bearer ${globexAdmin}` },
      body: form,
    });
    expect(uploaded.status).toBe(200);
    expect((await api('DELETE', '/api/chatbots/globex-old', globexAdmin)).status).toBe(204);

    // Acme's admin cannot adopt the leftover documents by creating or repointing a chatbot onto the collection.
    const adopt = await api('POST', '/api/chatbots', acmeAdmin, {
      id: 'acme-adopt',
      collectionId: 'globex-old',
    });
    expect(code(adopt)).toBe('FORBIDDEN');
    expect((await api('POST', '/api/chatbots', acmeAdmin, { id: 'acme-adopt' })).status).toBe(201);
    const repoint = await api('PATCH', '/api/chatbots/acme-adopt', acmeAdmin, { collectionId: 'globex-old' });
    expect(code(repoint)).toBe('FORBIDDEN');
    const list = await fetch(`${server.url}/api/documents?chatbotId=acme-adopt`, {
      headers: { authorization: `Bearer ${acmeAdmin}` },
    });
    expect(JSON.stringify(await list.json())).not.toContain('salaries');
    // The refusal reads the same as for a name another organisation's live chatbot uses: it tells nothing of whose
    // collection it is, nor that one was left behind.
    const live = await api('POST', '/api/chatbots', acmeAdmin, {
      id: 'acme-x',
      collectionId: 'globex-private',
    });
    expect(JSON.stringify(adopt.body).replace('globex-old', 'NAME')).toBe(
      JSON.stringify(live.body).replace('globex-private', 'NAME'),
    );
    expect(JSON.stringify(adopt.body).replace('globex-old', 'NAME')).not.toMatch(/globex|organisation/i);
    // Globex keeps its collection: a new chatbot of theirs reads the documents again.
    const again = await api('POST', '/api/chatbots', globexAdmin, {
      id: 'globex-new',
      collectionId: 'globex-old',
    });
    expect(again.status).toBe(201);
  });

  it('refuses bad settings with the field named, and keeps the default chatbot', async () => {
    const badOrigin = await api('POST', '/api/chatbots', root, {
      id: 'bad',
      allowedOrigins: ['shop.example'],
    });
    expect(badOrigin.status).toBe(400);
    expect(JSON.stringify(badOrigin.body)).toMatch(/allowedOrigins\.0: must be an origin/);
    expect(code(await api('POST', '/api/chatbots', root, { id: 'bad', temperature: 5 }))).toBe(
      'VALIDATION_FAILED',
    );
    expect(code(await api('POST', '/api/chatbots', root, { id: 'bad', unknown: 1 }))).toBe(
      'VALIDATION_FAILED',
    );
    expect(code(await api('POST', '/api/chatbots', root, { id: 'has space' }))).toBe('VALIDATION_FAILED');
    expect(code(await api('PATCH', '/api/chatbots/default', root, { limits: { tokensPerDay: 0 } }))).toBe(
      'VALIDATION_FAILED',
    );
    const keepDefault = await api('DELETE', '/api/chatbots/default', root);
    expect(keepDefault.status).toBe(400);
    expect(JSON.stringify(keepDefault.body)).toMatch(/default chatbot cannot be deleted/);
  });

  it('a chatbot’s model is what its answers ask the provider for', async () => {
    await api('POST', '/api/chatbots', root, { id: 'modelled', model: 'special-model' });
    server.upstream.reset();
    const response = await fetch(`${server.url}/api/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${root}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'Which model answers?', chatbotId: 'modelled' }),
    });
    expect(response.status).toBe(200);
    expect((server.upstream.requests[0]?.body as { model?: string }).model).toBe('special-model');
  });
});

describe('rivulet chatbots and rivulet keys', () => {
  let cwd: string;
  let dataDir: string;
  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'rivulet-admin-cli-'));
    dataDir = join(cwd, 'data');
  });
  afterAll(() => rm(cwd, { recursive: true, force: true }));

  it('creates, updates, shows, lists and deletes a chatbot; refuses bad input with exit 2', async () => {
    const created = await rivulet(
      [
        'chatbots',
        'create',
        'shop',
        '--name',
        'Shop help',
        '--public',
        '--origins',
        'https://shop.example',
        '--org',
        'acme',
        '--tokens-per-day',
        '50000',
      ],
      cwd,
      dataDir,
    );
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/Created chatbot:\nshop {2}"Shop help"/);
    expect(created.stdout).toMatch(/visibility {5}public from https:\/\/shop\.example/);

    const updated = await rivulet(
      ['chatbots', 'update', 'shop', '--model', 'gpt-4o', '--private'],
      cwd,
      dataDir,
    );
    expect(updated.code).toBe(0);
    await withStores(dataDir, async (stores) => {
      expect(await stores.chatbots.getChatbot('shop')).toMatchObject({
        name: 'Shop help',
        orgId: 'acme',
        model: 'gpt-4o',
        visibility: 'private',
        allowedOrigins: ['https://shop.example'],
        limits: { tokensPerDay: 50_000 },
      });
    });
    expect((await rivulet(['chatbots'], cwd, dataDir)).stdout).toContain('shop  "Shop help"');

    const badOrigin = await rivulet(
      ['chatbots', 'update', 'shop', '--origins', 'shop.example'],
      cwd,
      dataDir,
    );
    expect(badOrigin.code).toBe(2);
    expect(badOrigin.stderr).toMatch(/allowedOrigins\.0: must be an origin/);
    const duplicate = await rivulet(['chatbots', 'create', 'shop'], cwd, dataDir);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toMatch(/exists/);
    const missing = await rivulet(['chatbots', 'update', 'nope', '--name', 'x'], cwd, dataDir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/No such chatbot/);
    expect((await rivulet(['chatbots', 'create', 'x', '--bogus'], cwd, dataDir)).code).toBe(2);

    expect((await rivulet(['chatbots', 'delete', 'shop'], cwd, dataDir)).code).toBe(0);
    await withStores(dataDir, async (stores) =>
      expect(await stores.chatbots.getChatbot('shop')).toBeUndefined(),
    );
  });

  it('creates a key shown once, lists it without its secret, and revokes it', async () => {
    const created = await rivulet(
      ['keys', 'create', '--name', 'backend', '--org', 'acme', '--admin'],
      cwd,
      dataDir,
    );
    expect(created.code).toBe(0);
    const key = /rk_([A-Za-z0-9]{12})_[\w-]{43}/.exec(created.stdout);
    expect(key).not.toBeNull();
    await withStores(dataDir, async (stores) => {
      expect(await stores.apiKeys.verifyApiKey(key![0])).toMatchObject({
        orgId: 'acme',
        admin: true,
        name: 'backend',
      });
    });
    const listed = await rivulet(['keys'], cwd, dataDir);
    expect(listed.stdout).toContain(key![1]);
    expect(listed.stdout).not.toContain(key![0]);
    expect((await rivulet(['keys', 'revoke', key![1]!], cwd, dataDir)).code).toBe(0);
    const again = await rivulet(['keys', 'revoke', key![1]!], cwd, dataDir);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/No such API key/);
    await withStores(dataDir, async (stores) =>
      expect(await stores.apiKeys.verifyApiKey(key![0])).toBeUndefined(),
    );
    expect((await rivulet(['keys', 'create'], cwd, dataDir)).code).toBe(2);
  });
});

describe('a chatbot’s own provider chain', () => {
  let server: TestServer;
  let backup: FakeUpstream;
  beforeAll(async () => {
    backup = await startFakeUpstream({ scenario: { tokens: ['from ', 'the ', 'backup'] } });
    server = await startTestServer({ LLM_FALLBACK: `openai-compatible:backup-model@${backup.url}` });
  });
  afterAll(async () => {
    await server?.close();
    await backup?.close();
  });

  it('answers from the providers it names, in its order, and says so in the start event', async () => {
    await server.app.stores.chatbots.putChatbot({
      id: 'backup-first',
      name: 'Backup first',
      collectionId: 'default',
      systemPrompt: null,
      temperature: null,
      maxTokens: null,
      glossary: [],
      providers: ['openai-compatible:backup-model'],
    });
    const response = await fetch(`${server.url}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'Who answers?', chatbotId: 'backup-first' }),
    });
    const answer = (await response.json()) as { text: string; provider: string; model: string };
    expect(answer).toMatchObject({
      text: 'from the backup',
      provider: 'openai-compatible',
      model: 'backup-model',
    });
    expect(server.upstream.requests).toHaveLength(0);
    expect((backup.requests[0]?.body as { model?: string }).model).toBe('backup-model');

    // The default chatbot keeps the configured chain: the primary answers.
    const plain = await fetch(`${server.url}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'And here?' }),
    });
    expect(((await plain.json()) as { model: string }).model).toBe('fake-model');
    expect(server.upstream.requests).toHaveLength(1);
  });
});
