// Where and how to call each embedding API, and how to read its answer: OpenAI and compatible servers
// (/v1/embeddings), Azure OpenAI (a deployment's /embeddings), Ollama (/api/embed).

import { RivuletError } from '../../core/errors.ts';
import { upstreamExcerpt } from '../../core/redact.ts';
import {
  azureOpenAIDeploymentUrl,
  bearerAuth,
  OPENAI_BASE_URL,
  trimSlash,
} from '../openai/chat-completions-endpoints.ts';
import { ollamaBaseUrl } from '../ollama/ollama-model.ts';

/** One embedding deployment; built by the functions below, called by HttpEmbedder. */
export interface EmbeddingsEndpoint {
  /** Name used in the embedding space ("provider:model") and logs. */
  provider: string;
  /** Model (or Azure deployment) name. */
  model: string;
  /** Full URL, query included. */
  url: string;
  headers: Record<string, string>;
  /** The request body for one batch of inputs. */
  body(inputs: readonly string[]): unknown;
  /**
   * The vectors of a 2xx JSON answer in input order, not yet checked as numbers. Throws UPSTREAM_BAD_RESPONSE when
   * the answer is not this API's shape or does not hold exactly `count` vectors.
   */
  vectors(answer: unknown, count: number): unknown[];
  /** Inputs per request. */
  maxBatchInputs: number;
  /** UTF-8 bytes of input text per request (a single longer input is sent alone). */
  maxBatchBytes: number;
  /** No bytes from the provider for this long (before headers or between chunks) fails the call. */
  stallMs: number;
}

/**
 * OpenAI allows 2,048 inputs and 300,000 tokens per request; 256 inputs and 512 KiB (at least ~170k tokens even
 * for text that tokenises at 3 bytes a token) stay well inside that and keep one retry cheap.
 */
const OPENAI_MAX_BATCH_INPUTS = 256;
const OPENAI_MAX_BATCH_BYTES = 512 * 1024;
/** A local model on a CPU embeds slowly: smaller requests keep each one well inside the stall timeout. */
const OLLAMA_MAX_BATCH_INPUTS = 64;
const OLLAMA_MAX_BATCH_BYTES = 256 * 1024;

/** Only text-embedding-3 (and later) models accept `dimensions`; others answer 400 when it is sent. */
export function acceptsDimensions(model: string): boolean {
  return /text-embedding-3/i.test(model);
}

/** The OpenAI request body; `model` is undefined for Azure, which takes it from the deployment in the URL. */
function openAIBody(model: string | undefined, dimensions: number | undefined) {
  return (inputs: readonly string[]): unknown => ({
    ...(model === undefined ? {} : { model }),
    input: inputs,
    encoding_format: 'float',
    ...(dimensions === undefined ? {} : { dimensions }),
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const badResponse = (detail: string): RivuletError => new RivuletError('UPSTREAM_BAD_RESPONSE', { detail });

/** `{data: [{index, embedding}]}`, ordered by `index` (servers that omit it are taken in the order sent). */
function openAIVectors(answer: unknown, count: number): unknown[] {
  const data = isRecord(answer) ? answer.data : undefined;
  if (!Array.isArray(data)) throw badResponse('embeddings answer without a data array');
  if (data.length !== count) throw badResponse(`${data.length} embeddings for ${count} inputs`);
  const vectors = new Array<unknown>(count);
  const seen = new Set<number>();
  (data as unknown[]).forEach((item, position) => {
    const index = isRecord(item) && item.index !== undefined ? item.index : position;
    if (
      typeof index !== 'number' ||
      !Number.isInteger(index) ||
      index < 0 ||
      index >= count ||
      seen.has(index)
    ) {
      throw badResponse(
        `embedding with a missing, duplicate or out-of-range index: ${upstreamExcerpt(JSON.stringify(index) ?? 'undefined', 100)}`,
      );
    }
    seen.add(index);
    vectors[index] = isRecord(item) ? item.embedding : undefined;
  });
  return vectors;
}

/** `{embeddings: number[][]}`. */
function ollamaVectors(answer: unknown, count: number): unknown[] {
  const embeddings = isRecord(answer) ? answer.embeddings : undefined;
  if (!Array.isArray(embeddings)) throw badResponse('/api/embed answer without an embeddings array');
  if (embeddings.length !== count) throw badResponse(`${embeddings.length} embeddings for ${count} inputs`);
  return embeddings as unknown[];
}

export function openAICompatibleEmbeddings(options: {
  baseUrl: string;
  apiKey?: string | undefined;
  model: string;
  stallMs: number;
  dimensions?: number | undefined;
  provider?: string;
}): EmbeddingsEndpoint {
  return {
    provider: options.provider ?? 'openai-compatible',
    model: options.model,
    url: `${trimSlash(options.baseUrl)}/embeddings`,
    headers: bearerAuth(options.apiKey),
    body: openAIBody(options.model, acceptsDimensions(options.model) ? options.dimensions : undefined),
    vectors: openAIVectors,
    maxBatchInputs: OPENAI_MAX_BATCH_INPUTS,
    maxBatchBytes: OPENAI_MAX_BATCH_BYTES,
    stallMs: options.stallMs,
  };
}

export function openAIEmbeddings(options: {
  apiKey: string;
  model: string;
  stallMs: number;
  baseUrl?: string | undefined;
  dimensions?: number | undefined;
}): EmbeddingsEndpoint {
  return openAICompatibleEmbeddings({
    ...options,
    baseUrl: options.baseUrl ?? OPENAI_BASE_URL,
    provider: 'openai',
  });
}

/** Azure OpenAI: {endpoint}/openai/deployments/{deployment}/embeddings?api-version=..., key as `api-key`. */
export function azureOpenAIEmbeddings(options: {
  endpoint: string;
  apiKey: string;
  deployment: string;
  stallMs: number;
  apiVersion?: string | undefined;
  dimensions?: number | undefined;
}): EmbeddingsEndpoint {
  return {
    provider: 'azure-openai',
    model: options.deployment,
    url: azureOpenAIDeploymentUrl({ ...options, operation: 'embeddings' }),
    headers: { 'api-key': options.apiKey },
    // The deployment name is the only hint of which model sits behind it.
    body: openAIBody(undefined, acceptsDimensions(options.deployment) ? options.dimensions : undefined),
    vectors: openAIVectors,
    maxBatchInputs: OPENAI_MAX_BATCH_INPUTS,
    maxBatchBytes: OPENAI_MAX_BATCH_BYTES,
    stallMs: options.stallMs,
  };
}

/** Ollama's native /api/embed (0.3.4 and later); a key, when given, is sent as a bearer token for a proxy. */
export function ollamaEmbeddings(options: {
  host?: string | undefined;
  model: string;
  stallMs: number;
  apiKey?: string | undefined;
}): EmbeddingsEndpoint {
  return {
    provider: 'ollama',
    model: options.model,
    url: `${ollamaBaseUrl(options.host)}/api/embed`,
    headers: bearerAuth(options.apiKey),
    body: (inputs) => ({ model: options.model, input: inputs }),
    vectors: ollamaVectors,
    maxBatchInputs: OLLAMA_MAX_BATCH_INPUTS,
    maxBatchBytes: OLLAMA_MAX_BATCH_BYTES,
    stallMs: options.stallMs,
  };
}
