// `rivulet chatbots` and `rivulet keys`: create and edit chatbots and API keys from a terminal on the server, with
// the same validation as the admin API (src/transports/schemas.ts).

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  applySettings,
  newChatbot,
  toolsEnabled,
  withSecretsMasked,
  type Chatbot,
} from '../core/chatbots.ts';
import { RivuletError } from '../core/errors.ts';
import type { Config } from '../config.ts';
import { openStores } from '../stores/open-stores.ts';
import type { Stores } from '../stores/stores.ts';
import { chatbotSettingsSchema, idSchema, newApiKeySchema, parseWith } from '../transports/schemas.ts';

export const CHATBOTS_USAGE = `Usage: rivulet chatbots [list]
       rivulet chatbots show <id>
       rivulet chatbots create <id> [settings]
       rivulet chatbots update <id> [settings]
       rivulet chatbots delete <id>

Settings:
  --name <text>              display name
  --org <id>                 owner organisation ("" for none: shared by all)
  --collection <id>          document collection (default: the chatbot's id)
  --model <name>             model for this chatbot's answers ("" for the configured one)
  --providers <a,b>          its provider chain, from the configured one: kinds or kind:model ("" for all)
  --system-prompt <text>     instructions before the grounding rules
  --temperature <0-2>        --max-tokens <n>
  --public | --private       public chatbots take anonymous visitors from --origins
  --origins <a,b>            allowed origins, e.g. https://shop.example,https://docs.example
  --tokens-per-day <n>       daily token budget for all its users ("" for none)
  --max-duration-ms <ms>     longest an answer may run, then RUN_TIMEOUT ("" for RUN_MAX_DURATION_MS)
  --stall-timeout-ms <ms>    model silence that fails the call, UPSTREAM_STALLED ("" for LLM_STALL_MS)

Agent tools (docs/agents.md; show masks MCP header and env values):
  --search-documents | --no-search-documents   offer the retrieval pipeline as the search_documents tool
  --max-steps <1-20>         model calls one answer may make (default 5)
  --mcp-stdio 'name=cmd arg ...'   an MCP server run as a command (repeatable; words split on spaces)
  --mcp-http name=url        an MCP server over Streamable HTTP (repeatable)
                             (either replaces the chatbot's MCP servers as a whole)
  --allowed-tools <a,b>      MCP tools offered, as <server>__<tool> ("" for every tool)
  --tools-file <tools.json>  the admin API's "tools" object (env, headers, timeouts); flags above apply on top
  --no-tools                 no tools at all: answers are one model call again`;

export const KEYS_USAGE = `Usage: rivulet keys [list]
       rivulet keys create --name <text> [--org <id>] [--admin]
       rivulet keys revoke <id>

A key is printed once, when it is created: store it then. Use it as "Authorization: Bearer <key>".`;

const SETTINGS_OPTIONS = {
  name: { type: 'string' },
  org: { type: 'string' },
  collection: { type: 'string' },
  model: { type: 'string' },
  providers: { type: 'string' },
  'system-prompt': { type: 'string' },
  temperature: { type: 'string' },
  'max-tokens': { type: 'string' },
  public: { type: 'boolean' },
  private: { type: 'boolean' },
  origins: { type: 'string' },
  'tokens-per-day': { type: 'string' },
  'max-duration-ms': { type: 'string' },
  'stall-timeout-ms': { type: 'string' },
  'search-documents': { type: 'boolean' },
  'no-search-documents': { type: 'boolean' },
  'max-steps': { type: 'string' },
  'mcp-stdio': { type: 'string', multiple: true },
  'mcp-http': { type: 'string', multiple: true },
  'allowed-tools': { type: 'string' },
  'tools-file': { type: 'string' },
  'no-tools': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type OptionValues = Record<string, string | boolean | string[] | undefined>;

function badOption(message: string): RivuletError {
  return new RivuletError('VALIDATION_FAILED', { message: `Invalid option: ${message}` });
}

/** `name=value` of --mcp-stdio and --mcp-http. */
function namedValue(option: string, raw: string): [string, string] {
  const at = raw.indexOf('=');
  if (at <= 0 || raw.slice(at + 1).trim() === '') {
    throw badOption(`--${option} takes name=${option === 'mcp-http' ? 'url' : 'command'}, not "${raw}"`);
  }
  return [raw.slice(0, at).trim(), raw.slice(at + 1).trim()];
}

/**
 * The `tools` part of the settings, in the admin API's shape (the same schema checks it): --tools-file first, the
 * flags on top, --no-tools alone.
 */
async function toolsFrom(values: OptionValues): Promise<unknown> {
  const stdio = (values['mcp-stdio'] as string[] | undefined) ?? [];
  const http = (values['mcp-http'] as string[] | undefined) ?? [];
  const flags = [
    'search-documents',
    'no-search-documents',
    'max-steps',
    'allowed-tools',
    'tools-file',
  ].filter((name) => values[name] !== undefined);
  if (values['no-tools'] === true) {
    if (flags.length > 0 || stdio.length > 0 || http.length > 0) {
      throw badOption('--no-tools cannot be combined with other tool options');
    }
    return { searchDocuments: false, mcpServers: [], allowedTools: null };
  }
  if (values['search-documents'] === true && values['no-search-documents'] === true) {
    throw badOption('--search-documents and --no-search-documents contradict each other');
  }
  let tools: Record<string, unknown> = {};
  const file = values['tools-file'];
  if (typeof file === 'string') {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw badOption(`--tools-file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new RivuletError('INVALID_JSON', { message: `--tools-file ${file} is not valid JSON.` });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw badOption(`--tools-file ${file} must hold a JSON object (the admin API's "tools")`);
    }
    tools = { ...(parsed as Record<string, unknown>) };
  }
  if (values['search-documents'] === true) tools.searchDocuments = true;
  if (values['no-search-documents'] === true) tools.searchDocuments = false;
  const maxSteps = values['max-steps'];
  if (typeof maxSteps === 'string') tools.maxSteps = Number(maxSteps);
  const allowed = values['allowed-tools'];
  if (typeof allowed === 'string') {
    tools.allowedTools = allowed === '' ? null : allowed.split(',').map((item) => item.trim());
  }
  if (stdio.length > 0 || http.length > 0) {
    tools.mcpServers = [
      ...stdio.map((raw) => {
        const [name, commandLine] = namedValue('mcp-stdio', raw);
        const [command, ...args] = commandLine.split(/\s+/);
        return { name, transport: 'stdio', command, args };
      }),
      ...http.map((raw) => {
        const [name, url] = namedValue('mcp-http', raw);
        return { name, transport: 'http', url };
      }),
    ];
  }
  return Object.keys(tools).length === 0 ? undefined : tools;
}

/** "" clears a setting; a number option must be a number (the schema then checks its range). */
async function settingsFrom(values: OptionValues): Promise<unknown> {
  const text = (name: string): string | null | undefined => {
    const value = values[name];
    if (typeof value !== 'string') return undefined;
    return value === '' ? null : value;
  };
  const number = (name: string): number | null | undefined => {
    const value = text(name);
    return value === null || value === undefined ? value : Number(value);
  };
  const list = (name: string): string[] | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    return (value ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  };
  // Each limit on its own: one left out keeps its value.
  const limits = Object.fromEntries(
    Object.entries({
      tokensPerDay: number('tokens-per-day'),
      maxDurationMs: number('max-duration-ms'),
      stallTimeoutMs: number('stall-timeout-ms'),
    }).filter(([, value]) => value !== undefined),
  );
  const settings: Record<string, unknown> = {
    name: text('name') ?? undefined,
    orgId: text('org'),
    collectionId: text('collection') ?? undefined,
    model: text('model'),
    providers: list('providers'),
    systemPrompt: text('system-prompt'),
    temperature: number('temperature'),
    maxTokens: number('max-tokens'),
    visibility: values.public === true ? 'public' : values.private === true ? 'private' : undefined,
    allowedOrigins: list('origins'),
    limits: Object.keys(limits).length === 0 ? undefined : limits,
    tools: await toolsFrom(values),
  };
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined));
}

function describeTools(chatbot: Chatbot): string {
  const { tools } = chatbot;
  if (!toolsEnabled(tools)) return '(none: one model call)';
  const servers = tools.mcpServers.map(
    (server) => `${server.name} (${server.transport === 'http' ? server.url : 'stdio'})`,
  );
  return [
    ...(tools.searchDocuments ? ['search_documents'] : []),
    ...(servers.length === 0 ? [] : [`MCP ${servers.join(', ')}`]),
    ...(tools.allowedTools === null ? [] : [`only ${tools.allowedTools.join(', ')}`]),
    `max ${tools.maxSteps} steps`,
  ].join('; ');
}

function describe(chatbot: Chatbot): string {
  return [
    `${chatbot.id}  "${chatbot.name}"`,
    `  organisation   ${chatbot.orgId ?? '(shared)'}`,
    `  collection     ${chatbot.collectionId}`,
    `  model          ${chatbot.model ?? '(configured)'}`,
    `  providers      ${chatbot.providers.join(' -> ') || '(the configured chain)'}`,
    `  visibility     ${chatbot.visibility}${chatbot.visibility === 'public' ? ` from ${chatbot.allowedOrigins.join(', ') || '(no origin yet)'}` : ''}`,
    `  tokens per day ${chatbot.limits.tokensPerDay ?? '(no limit)'}`,
    `  max duration   ${chatbot.limits.maxDurationMs == null ? '(RUN_MAX_DURATION_MS)' : `${chatbot.limits.maxDurationMs} ms`}`,
    `  stall timeout  ${chatbot.limits.stallTimeoutMs == null ? '(LLM_STALL_MS)' : `${chatbot.limits.stallTimeoutMs} ms`}`,
    `  tools          ${describeTools(chatbot)}`,
  ].join('\n');
}

async function withStores<T>(config: Config, work: (stores: Stores) => Promise<T>): Promise<T> {
  const stores = await openStores(config);
  try {
    return await work(stores);
  } finally {
    await stores.close();
  }
}

/** Usage mistakes and refusals print a message and return an exit status instead of a stack trace. */
async function reporting(work: () => Promise<number>, usage: string): Promise<number> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof RivuletError) {
      console.error(
        `${error.code}: ${error.message}${error.code === 'VALIDATION_FAILED' ? `\n\n${usage}` : ''}`,
      );
      return error.code === 'VALIDATION_FAILED' || error.code === 'INVALID_JSON' ? 2 : 1;
    }
    if (String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) {
      console.error(`${(error as Error).message}\n\n${usage}`);
      return 2;
    }
    throw error;
  }
}

export function chatbotsCommand(args: string[], config: Config): Promise<number> {
  return reporting(async () => {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: SETTINGS_OPTIONS });
    const [action = 'list', rawId] = positionals;
    if (values.help === true) {
      console.log(CHATBOTS_USAGE);
      return 0;
    }
    if (action === 'list') {
      return withStores(config, async (stores) => {
        for (const chatbot of await stores.chatbots.listChatbots()) console.log(describe(chatbot));
        return 0;
      });
    }
    if (!['show', 'create', 'update', 'delete'].includes(action)) {
      console.error(`Unknown action "${action}".\n\n${CHATBOTS_USAGE}`);
      return 2;
    }
    const id = parseWith(idSchema, rawId, 'chatbot id');
    // Bad settings are refused before the stores are opened.
    const settings =
      action === 'create' || action === 'update'
        ? parseWith(chatbotSettingsSchema, await settingsFrom(values))
        : undefined;
    return withStores(config, async (stores) => {
      const existing = await stores.chatbots.getChatbot(id);
      if (action === 'create' && existing !== undefined) throw new RivuletError('CHATBOT_EXISTS');
      if (action !== 'create' && existing === undefined) throw new RivuletError('CHATBOT_NOT_FOUND');
      if (action === 'show') {
        // Masked exactly as GET /api/chatbots/:id shows it: MCP header and env values never leave the store.
        console.log(JSON.stringify(existing === undefined ? existing : withSecretsMasked(existing), null, 2));
        return 0;
      }
      if (action === 'delete') {
        await stores.chatbots.deleteChatbot(id);
        console.log(`Deleted chatbot ${id} (its documents stay in collection "${existing?.collectionId}").`);
        return 0;
      }
      const saved = await stores.chatbots.putChatbot(
        applySettings(existing ?? newChatbot(id), settings ?? {}),
      );
      console.log(`${action === 'create' ? 'Created' : 'Updated'} chatbot:\n${describe(saved)}`);
      return 0;
    });
  }, CHATBOTS_USAGE);
}

export function keysCommand(args: string[], config: Config): Promise<number> {
  return reporting(async () => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        name: { type: 'string' },
        org: { type: 'string' },
        admin: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [action = 'list', keyId] = positionals;
    if (values.help === true) {
      console.log(KEYS_USAGE);
      return 0;
    }
    return withStores(config, async (stores) => {
      switch (action) {
        case 'list': {
          for (const key of await stores.apiKeys.listApiKeys()) {
            const state =
              key.revokedAt === null ? 'active' : `revoked ${new Date(key.revokedAt).toISOString()}`;
            const used =
              key.lastUsedAt === null ? 'never used' : `last used ${new Date(key.lastUsedAt).toISOString()}`;
            console.log(
              `${key.id}  ${key.name}  org=${key.orgId ?? '-'}  ${key.admin ? 'admin' : 'member'}  ${state}, ${used}`,
            );
          }
          return 0;
        }
        case 'create': {
          const input = parseWith(newApiKeySchema, {
            name: values.name,
            orgId: values.org,
            admin: values.admin,
          });
          const { key, token } = await stores.apiKeys.createApiKey({
            name: input.name,
            orgId: input.orgId ?? null,
            admin: input.admin ?? false,
          });
          console.log(
            `Created API key ${key.id} (${key.admin ? 'admin' : 'member'}${key.orgId === null ? '' : ` of ${key.orgId}`}).`,
          );
          console.log(`Store it now; it is not shown again:\n\n  ${token}\n`);
          return 0;
        }
        case 'revoke': {
          const id = parseWith(idSchema, keyId, 'key id');
          if (!(await stores.apiKeys.revokeApiKey(id))) throw new RivuletError('API_KEY_NOT_FOUND');
          console.log(`Revoked API key ${id}.`);
          return 0;
        }
        default:
          console.error(`Unknown action "${action}".\n\n${KEYS_USAGE}`);
          return 2;
      }
    });
  }, KEYS_USAGE);
}
