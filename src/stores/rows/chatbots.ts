// A chatbots row and the Chatbot it holds, for every backend.

import { noTools, type Chatbot, type ChatbotTools } from '../../core/chatbots.ts';
import type { ColumnCodec, ColumnTypes } from './columns.ts';

export interface ChatbotRow<C extends ColumnTypes> {
  id: string;
  name: string;
  collection_id: string;
  system_prompt: string | null;
  temperature: number | null;
  max_tokens: number | null;
  glossary: C['json'];
  org_id: string | null;
  model: string | null;
  providers: C['json'];
  visibility: string;
  allowed_origins: C['json'];
  limits: C['json'];
  tools: C['json'];
  created_at: number;
  updated_at: number;
}

export function toChatbot<C extends ColumnTypes>(row: ChatbotRow<C>, columns: ColumnCodec<C>): Chatbot {
  return {
    id: row.id,
    name: row.name,
    collectionId: row.collection_id,
    systemPrompt: row.system_prompt,
    temperature: row.temperature,
    maxTokens: row.max_tokens,
    glossary: columns.json(row.glossary),
    orgId: row.org_id,
    model: row.model,
    providers: columns.json(row.providers),
    visibility: row.visibility === 'public' ? 'public' : 'private',
    allowedOrigins: columns.json(row.allowed_origins),
    limits: columns.json(row.limits),
    // Settings added later get their defaults.
    tools: { ...noTools(), ...columns.json<Partial<ChatbotTools>>(row.tools) },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
