// Schema migrations, applied in order by database.ts (PRAGMA user_version counts the applied ones).
// Append new migrations; never edit one that has shipped.

import { LEXICAL_SCHEMA } from './lexical.ts';

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;

  CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    owner_id TEXT,
    chatbot_id TEXT NOT NULL,
    title TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX conversations_by_owner ON conversations (owner_id, updated_at DESC);

  CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT,
    run_id TEXT,
    finish_reason TEXT,
    error_code TEXT,
    usage TEXT,
    timings TEXT,
    sources TEXT,
    cached INTEGER
  ) STRICT;
  CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);

  CREATE TABLE chatbots (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    system_prompt TEXT,
    temperature REAL,
    max_tokens INTEGER,
    glossary TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    collection_id TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    media_type TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    embedding_model TEXT,
    metadata TEXT NOT NULL,
    chunk_count INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    owner_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (collection_id, source)
  ) STRICT;
  CREATE INDEX documents_by_collection ON documents (collection_id, updated_at DESC);

  CREATE TABLE chunks (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    collection_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    heading TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT
  ) STRICT;
  CREATE INDEX chunks_by_document ON chunks (document_id, ordinal);

  CREATE TABLE answer_cache (
    id TEXT PRIMARY KEY,
    chatbot_id TEXT NOT NULL,
    normalized_question TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    sources TEXT NOT NULL,
    usage TEXT,
    document_versions TEXT NOT NULL,
    embedding_model TEXT,
    embedding BLOB,
    created_at INTEGER NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  CREATE INDEX answer_cache_by_question ON answer_cache (chatbot_id, normalized_question, created_at DESC);
  CREATE INDEX answer_cache_by_model ON answer_cache (chatbot_id, embedding_model);
  ${LEXICAL_SCHEMA}
  `,
  // 2: chatbot ownership, visibility and limits; API keys; tokens spent per day.
  `
  ALTER TABLE chatbots ADD COLUMN org_id TEXT;
  ALTER TABLE chatbots ADD COLUMN model TEXT;
  ALTER TABLE chatbots ADD COLUMN providers TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE chatbots ADD COLUMN visibility TEXT NOT NULL DEFAULT 'private';
  ALTER TABLE chatbots ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE chatbots ADD COLUMN limits TEXT NOT NULL DEFAULT '{"tokensPerDay":null}';

  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    org_id TEXT,
    admin INTEGER NOT NULL,
    secret_hash BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
  ) STRICT;

  CREATE TABLE token_usage (
    day TEXT NOT NULL,
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    PRIMARY KEY (day, scope, subject)
  ) STRICT;
  `,
  // 3: cached answers keep to their askers' scope and remember their conversation; collections get an owner that
  // outlives chatbots. Entries cached before scopes existed may hold one user's conversation: they are dropped.
  `
  DELETE FROM answer_cache;
  ALTER TABLE answer_cache ADD COLUMN scope TEXT NOT NULL DEFAULT '';
  ALTER TABLE answer_cache ADD COLUMN conversation_id TEXT;
  ALTER TABLE answer_cache ADD COLUMN echoed_words TEXT NOT NULL DEFAULT '[]';
  DROP INDEX answer_cache_by_question;
  DROP INDEX answer_cache_by_model;
  CREATE INDEX answer_cache_by_question ON answer_cache (chatbot_id, scope, normalized_question, created_at DESC);
  CREATE INDEX answer_cache_by_model ON answer_cache (chatbot_id, scope, embedding_model);
  CREATE INDEX answer_cache_by_conversation ON answer_cache (conversation_id);

  CREATE TABLE collections (
    id TEXT PRIMARY KEY,
    org_id TEXT,
    created_at INTEGER NOT NULL
  ) STRICT;
  -- A collection that chatbots of several organisations (or shared ones) use is left to admins of no organisation.
  INSERT INTO collections (id, org_id, created_at)
    SELECT collection_id, CASE WHEN count(DISTINCT coalesce(org_id, '')) = 1 THEN max(org_id) END, min(created_at)
    FROM chatbots GROUP BY collection_id;
  INSERT OR IGNORE INTO collections (id, org_id, created_at)
    SELECT collection_id, NULL, min(created_at) FROM documents GROUP BY collection_id;
  `,
  // 4: answers are stored when they start and checkpointed while they stream; a resume finds a run's answer by its
  // run id, and the start finds the answers a killed process left streaming.
  `
  CREATE INDEX messages_by_run ON messages (run_id) WHERE run_id IS NOT NULL;
  CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming';
  `,
  // 5: a question keeps the metadata its chat request carried (JSON, at most 8 KB; NULL when it had none).
  `
  ALTER TABLE messages ADD COLUMN metadata TEXT;
  `,
  // 6: when a streaming answer was last saved: workers sharing the file (rivulet serve --workers N) mark only stale
  // ones interrupted, as instances sharing PostgreSQL do.
  `
  ALTER TABLE messages ADD COLUMN checkpointed_at INTEGER;
  `,
  // 7: an agent answer keeps its steps (text, tool calls and results; JSON, NULL for answers without tools).
  `
  ALTER TABLE messages ADD COLUMN steps TEXT;
  `,
  // 8: the tools a chatbot's answers may call (agent steps): search_documents, MCP servers, the step cap.
  `
  ALTER TABLE chatbots ADD COLUMN tools TEXT NOT NULL DEFAULT '{"searchDocuments":false,"maxSteps":5,"mcpServers":[],"allowedTools":null}';
  `,
  // 9: rooms, shared conversations several principals join (src/core/rooms.ts): members and the questions asked
  // (both listed in rowid order: the order they were added).
  `
  CREATE TABLE rooms (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    org_id TEXT,
    chatbot_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE room_members (
    room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL,
    role TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, member_id)
  ) STRICT;
  CREATE INDEX room_members_by_member ON room_members (member_id);

  CREATE TABLE room_questions (
    room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    run_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    text TEXT NOT NULL,
    asked_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, run_id)
  ) STRICT;
  CREATE INDEX room_questions_by_room ON room_questions (room_id, asked_at);
  `,
  // 10: a collection's lexical generation, bumped with its statistics by every write to its chunks, so a retriever
  // can keep the chunks it read until it changes (src/core/documents.ts, RankedChunks).
  `
  ALTER TABLE lexical_collections ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
  `,
  // 11: an answer's sources in a table of their own. A streaming answer's row is rewritten by every checkpoint (once
  // a second by default); with its sources (3 to 4 KB) in it each rewrite was a page of its own, without them the
  // answers streaming together share their pages. Sources stored before stay in their row (messages.sources), where
  // reads still find them: nothing is copied, and a process of an earlier release still running on the file keeps
  // working (see MESSAGE_ROWS).
  `
  CREATE TABLE message_sources (
    seq INTEGER PRIMARY KEY REFERENCES messages (seq) ON DELETE CASCADE,
    sources TEXT NOT NULL
  ) STRICT;
  `,
];
