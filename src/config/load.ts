// loadConfig: validates every concern's variables, then runs every cross-field check, and throws one ConfigError
// listing every problem found (schema issues first, then cross-field ones, each in the order of the concerns).

import { z } from 'zod';
import { authSchema, resolveAuth, type AuthSettings } from './auth.ts';
import { documentsSchema, resolveDocuments, type DocumentSettings } from './documents.ts';
import { embeddingsSchema, resolveEmbedding, type EmbeddingSettings } from './embeddings.ts';
import { limitsSchema, resolveLimits, type LimitSettings } from './limits.ts';
import { ConfigError, Problems, type Env } from './problems.ts';
import { providersSchema, resolveProviders, type ProviderSettings } from './providers.ts';
import { resolveRetrieval, retrievalSchema, type RetrievalSettings } from './retrieval.ts';
import { resolveRuns, runsSchema, type RunSettings } from './runs.ts';
import { resolveServer, serverSchema, type ServerSettings } from './server.ts';
import { resolveTools, toolsSchema, type ToolSettings } from './tools.ts';
import { checkStorage, resolveStorage, storageSchema, type StorageSettings } from './storage.ts';
import { resolveWeb, webSchema, type WebSettings } from './web.ts';

/** Every variable Rivulet reads, one schema per concern (each variable belongs to exactly one). */
export const envSchema = z.object({
  ...serverSchema.shape,
  ...storageSchema.shape,
  ...providersSchema.shape,
  ...embeddingsSchema.shape,
  ...retrievalSchema.shape,
  ...documentsSchema.shape,
  ...runsSchema.shape,
  ...toolsSchema.shape,
  ...authSchema.shape,
  ...limitsSchema.shape,
  ...webSchema.shape,
});
export type EnvValues = z.infer<typeof envSchema>;

/** The whole configuration: each concern's settings, side by side. */
export type Config = ServerSettings &
  StorageSettings &
  ProviderSettings &
  EmbeddingSettings &
  RetrievalSettings &
  DocumentSettings &
  RunSettings &
  ToolSettings &
  AuthSettings &
  LimitSettings &
  WebSettings;

export function loadConfig(env: Env = process.env): Config {
  const problems = new Problems();
  const server = problems.parse(serverSchema, env);
  const storage = problems.parse(storageSchema, env);
  const providers = problems.parse(providersSchema, env);
  const embeddings = problems.parse(embeddingsSchema, env);
  const retrieval = problems.parse(retrievalSchema, env);
  const documents = problems.parse(documentsSchema, env);
  const runs = problems.parse(runsSchema, env);
  const tools = problems.parse(toolsSchema, env);
  const auth = problems.parse(authSchema, env);
  const limits = problems.parse(limitsSchema, env);
  const web = problems.parse(webSchema, env);

  // Cross-field checks run for every concern whose own variables (and those it depends on) are valid, so one bad
  // variable does not hide the next.
  const providerSettings = providers && resolveProviders(providers, problems);
  const embedding =
    embeddings && providers && providerSettings
      ? resolveEmbedding(embeddings, providers, providerSettings.llm, problems)
      : undefined;
  const authSettings = auth && resolveAuth(auth, problems);
  const webSettings = web && authSettings && resolveWeb(web, authSettings.auth.mode, problems);
  const limitSettings = limits && authSettings && resolveLimits(limits, authSettings.auth.mode);
  if (storage && runs) checkStorage(storage, runs.RUN_CHECKPOINT_MS, server?.WORKERS ?? 1, problems);
  problems.throwIfAny();

  if (
    server === undefined ||
    storage === undefined ||
    providerSettings === undefined ||
    retrieval === undefined ||
    documents === undefined ||
    runs === undefined ||
    tools === undefined ||
    authSettings === undefined ||
    limitSettings === undefined ||
    webSettings === undefined
  ) {
    // Not reached: a concern that failed to parse recorded its issues, and throwIfAny threw them.
    throw new ConfigError('Invalid configuration');
  }
  return {
    ...resolveServer(server),
    ...resolveStorage(storage),
    ...providerSettings,
    embedding,
    ...resolveRetrieval(retrieval),
    ...resolveDocuments(documents),
    ...resolveRuns(runs),
    ...resolveTools(tools),
    ...authSettings,
    ...limitSettings,
    ...webSettings,
  };
}
