// Configuration from the environment (and .env), validated at start with one error that lists every bad variable.
// The schema and resolvers live in src/config/, one file per concern; this module is their public face.

export { assertSafeToServe, isLoopbackHost, JWT_ALGORITHMS, type AuthConfig } from './config/auth.ts';
export type { DocumentParsingConfig } from './config/documents.ts';
export {
  EMBEDDING_PROVIDER_KINDS,
  type EmbeddingConfig,
  type EmbeddingProviderKind,
} from './config/embeddings.ts';
export type { LimitsConfig } from './config/limits.ts';
export { STREAM_COMPRESSION_SETTINGS, type StreamCompressionSetting } from './config/runs.ts';
export { envSchema, loadConfig, type Config, type EnvValues } from './config/load.ts';
export { ConfigError } from './config/problems.ts';
export {
  PROVIDER_KINDS,
  type LlmConfig,
  type ProviderConfig,
  type ProviderKind,
} from './config/providers.ts';
export { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './config/server.ts';
export { parseTrustProxy, type TrustProxy } from './config/web.ts';
