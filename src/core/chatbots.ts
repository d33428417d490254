// The chatbot store contract: what a chatbot answers from and how, who owns it, who may use it, and its limits.

/** The chatbot every install has, answering from the collection of the same name. */
export const DEFAULT_CHATBOT_ID = 'default';

export interface GlossaryTerm {
  term: string;
  /** Given to the model when the term appears in the question. */
  definition: string;
  /** Other words users say for the term; a question using one is expanded with the term itself. */
  synonyms?: string[];
}

export interface ChatbotLimits {
  /** Tokens (input and output) all users of this chatbot may spend per UTC day; null: no limit. */
  tokensPerDay: number | null;
  /** Longest an answer may run before it ends with RUN_TIMEOUT; null or absent: RUN_MAX_DURATION_MS. */
  maxDurationMs?: number | null;
  /**
   * Silence from the model that fails its call (UPSTREAM_TIMEOUT before the first token, UPSTREAM_STALLED after, then
   * retries and failover as usual); null or absent: LLM_STALL_MS.
   */
  stallTimeoutMs?: number | null;
}

/** Settings every MCP server has, whatever its transport. */
interface McpServerBase {
  /** Prefixes its tools' names (`<name>__<tool>`): letters, digits and `-`, unique within the chatbot. */
  name: string;
  /** How long one of its tools may run before TOOL_TIMEOUT (and the handshake before MCP_SERVER_UNAVAILABLE); null: TOOL_TIMEOUT_MS. */
  timeoutMs: number | null;
  /** Characters of one result the model reads, the rest cut with a marker; null: TOOL_RESULT_MAX_CHARS. */
  maxResultChars: number | null;
}

/** An MCP server the chatbot's answers may call: a command Rivulet starts (stdio) or a URL (Streamable HTTP). */
export type McpServerConfig =
  | (McpServerBase & {
      transport: 'stdio';
      command: string;
      args: string[];
      /** Added to the few variables a server inherits (PATH, HOME, ...): never Rivulet's own secrets. Secret. */
      env: Record<string, string>;
    })
  | (McpServerBase & {
      transport: 'http';
      url: string;
      /** Sent with every request (`Authorization`, ...). Secret. */
      headers: Record<string, string>;
    });

/** The tools a chatbot's answers may call (an agent loop); nothing enabled: plain answers, as without tools. */
export interface ChatbotTools {
  /** The retrieval pipeline over the chatbot's collection as the `search_documents` tool. */
  searchDocuments: boolean;
  /** Model calls one answer may make (tool steps and the final answer), 1 to 20. */
  maxSteps: number;
  mcpServers: McpServerConfig[];
  /** The MCP tools offered, by the name the model sees (`<server>__<tool>`); null: every tool of the servers. */
  allowedTools: string[] | null;
}

export const DEFAULT_MAX_STEPS = 5;

/** A chatbot without tools: its answers are one model call. */
export function noTools(): ChatbotTools {
  return { searchDocuments: false, maxSteps: DEFAULT_MAX_STEPS, mcpServers: [], allowedTools: null };
}

/** Whether the chatbot's answers run the agent loop (some tool is enabled). */
export function toolsEnabled(tools: ChatbotTools): boolean {
  return tools.searchDocuments || tools.mcpServers.length > 0;
}

export interface Chatbot {
  id: string;
  name: string;
  /** The owner organisation; null: shared by every organisation (the default chatbot of a fresh install). */
  orgId: string | null;
  /** Which document collection retrieval searches. */
  collectionId: string;
  /** Model name for this chatbot's answers; null: the configured provider's model. */
  model: string | null;
  /**
   * The providers this chatbot's answers use, in fallback order, chosen from the configured chain by `kind` or
   * `kind:model` (`["ollama", "openai:gpt-4o-mini"]`); empty: the whole configured chain.
   */
  providers: string[];
  systemPrompt: string | null;
  temperature: number | null;
  maxTokens: number | null;
  glossary: GlossaryTerm[];
  /** `public`: anonymous visitors may chat from `allowedOrigins` (the widget on your site). */
  visibility: 'private' | 'public';
  /** Origins (`https://shop.example`) whose pages may use a public chatbot anonymously. */
  allowedOrigins: string[];
  limits: ChatbotLimits;
  tools: ChatbotTools;
  createdAt: number;
  updatedAt: number;
}

type OptionalSettings =
  'orgId' | 'model' | 'providers' | 'visibility' | 'allowedOrigins' | 'limits' | 'tools';

/** What creating or replacing a chatbot takes; settings left out get their defaults (see chatbotDefaults). */
export type ChatbotInput = Omit<Chatbot, 'createdAt' | 'updatedAt' | OptionalSettings> &
  Partial<Pick<Chatbot, OptionalSettings>>;

type ChatbotFields = Omit<Chatbot, 'createdAt' | 'updatedAt'>;

/** A new chatbot with nothing set: named after its id, answering from the collection of the same name. */
export function newChatbot(id: string, name = id): ChatbotFields {
  return withChatbotDefaults({
    id,
    name,
    collectionId: id,
    systemPrompt: null,
    temperature: null,
    maxTokens: null,
    glossary: [],
  });
}

/**
 * Settings (the admin API's and the CLI's, any of them left out) applied over a chatbot. Limits apply one by one: a
 * limit left out keeps its value, null clears it.
 */
export function applySettings(
  base: ChatbotFields,
  settings: Omit<Partial<ChatbotFields>, 'limits' | 'tools'> & {
    limits?: Partial<ChatbotLimits> | undefined;
    tools?: Partial<ChatbotTools> | undefined;
  },
): ChatbotFields {
  const defined = <T extends object>(value: T): Partial<T> =>
    Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as Partial<T>;
  const { limits, tools, ...rest } = settings;
  return {
    ...base,
    ...defined(rest),
    ...(limits === undefined ? {} : { limits: { ...base.limits, ...defined(limits) } }),
    ...(tools === undefined ? {} : { tools: keepSecrets(base.tools, { ...base.tools, ...defined(tools) }) }),
  };
}

/** What GET shows in place of a header or env value: the values are secrets, never returned or logged. */
export const MASKED_SECRET = '********';

function maskValues(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(record).map((key) => [key, MASKED_SECRET]));
}

/** The chatbot as the API and CLI show it: MCP header and env values masked. */
export function withSecretsMasked(chatbot: Chatbot): Chatbot {
  if (chatbot.tools.mcpServers.length === 0) return chatbot;
  const mcpServers = chatbot.tools.mcpServers.map((server) =>
    server.transport === 'http'
      ? { ...server, headers: maskValues(server.headers) }
      : { ...server, env: maskValues(server.env) },
  );
  return { ...chatbot, tools: { ...chatbot.tools, mcpServers } };
}

/**
 * A header or env value sent back masked (what GET showed) keeps the stored value of the same server and name, so
 * a client may PATCH what it read without knowing the secrets.
 */
function keepSecrets(stored: ChatbotTools, next: ChatbotTools): ChatbotTools {
  const before = new Map(stored.mcpServers.map((server) => [server.name, server]));
  const unmask = (values: Record<string, string>, old: Record<string, string> | undefined) =>
    Object.fromEntries(
      Object.entries(values).map(([key, value]) => [
        key,
        value === MASKED_SECRET ? (old?.[key] ?? '') : value,
      ]),
    );
  const mcpServers = next.mcpServers.map((server): McpServerConfig => {
    const old = before.get(server.name);
    return server.transport === 'http'
      ? { ...server, headers: unmask(server.headers, old?.transport === 'http' ? old.headers : undefined) }
      : { ...server, env: unmask(server.env, old?.transport === 'stdio' ? old.env : undefined) };
  });
  return { ...next, mcpServers };
}

/** A private chatbot shared by every organisation, on the configured model, without limits of its own. */
export function withChatbotDefaults(input: ChatbotInput): Omit<Chatbot, 'createdAt' | 'updatedAt'> {
  return {
    ...input,
    orgId: input.orgId ?? null,
    model: input.model ?? null,
    providers: input.providers ?? [],
    visibility: input.visibility ?? 'private',
    allowedOrigins: input.allowedOrigins ?? [],
    limits: input.limits ?? { tokensPerDay: null },
    tools: input.tools ?? noTools(),
  };
}

/**
 * Who a document collection belongs to. The first chatbot put on a collection (or the first document put into it)
 * claims it for the chatbot's organisation (null: admins of no organisation), and the claim outlives every chatbot:
 * deleting or repointing a chatbot never leaves its documents for another organisation to adopt.
 */
export interface CollectionOwner {
  orgId: string | null;
}

/** A chatbot as this process last read it, and the version of its row then (see ChatbotStore.lastRead). */
export interface RememberedChatbot {
  chatbot: Chatbot;
  version: string;
}

/** Chatbots remembered per process at most (the oldest read is forgotten first). */
const REMEMBERED_MAX = 1_000;

/** What a chatbot store's reads remember for `lastRead`: the last read of each chatbot, at most REMEMBERED_MAX. */
export class RememberedChatbots {
  readonly #byId = new Map<string, RememberedChatbot>();

  /** A read of `id`: what it found, with its row's version, or undefined (not found). */
  read(id: string, found: RememberedChatbot | undefined): void {
    this.#byId.delete(id);
    if (found === undefined) return;
    if (this.#byId.size >= REMEMBERED_MAX) {
      const oldest = this.#byId.keys().next();
      if (oldest.done !== true) this.#byId.delete(oldest.value);
    }
    this.#byId.set(id, found);
  }

  get(id: string): RememberedChatbot | undefined {
    return this.#byId.get(id);
  }

  /** Put or deleted by this process: forgotten at once (another process's write is caught by the version check). */
  forget(id: string): void {
    this.#byId.delete(id);
  }
}

/**
 * createConversation's refusal when its `ifChatbotVersion` is no longer the chatbot's (changed or deleted since it was
 * read, by this process or another): nothing was stored.
 */
export class ChatbotChanged extends Error {
  readonly chatbotId: string;

  constructor(chatbotId: string) {
    super(`chatbot ${chatbotId} changed since it was read`);
    this.name = 'ChatbotChanged';
    this.chatbotId = chatbotId;
  }
}

export interface ChatbotStore {
  getChatbot(id: string): Promise<Chatbot | undefined>;
  /**
   * Optional (PostgreSQL, where a read is a round trip, and SQLite, where it is a statement taking the file's read
   * lock; the memory store has none): the chatbot as this process last read it, with its row's version then, without
   * asking the database; undefined when it was not read (or was put or deleted here since). It may be stale: act on
   * it only in a write that checks the version (createConversation's `ifChatbotVersion`), which the same stores'
   * conversation store then honours, or when a read made after the question arrived found the row at that version
   * (getConversationForQuestion's `chatbotVersion`).
   */
  lastRead?(id: string): RememberedChatbot | undefined;
  listChatbots(): Promise<Chatbot[]>;
  /**
   * Creates or replaces the chatbot with this id; its cached answers are forgotten (they rest on the old settings).
   * Claims its collection for its organisation if nobody owns it yet.
   */
  putChatbot(input: ChatbotInput): Promise<Chatbot>;
  deleteChatbot(id: string): Promise<boolean>;
  /** The collection's owner; undefined when no chatbot or document ever used it. */
  collectionOwner(collectionId: string): Promise<CollectionOwner | undefined>;
}
