// Embedding models over HTTP (OpenAI and compatible servers, Azure OpenAI, Ollama): batching, retries with
// backoff, response checks and L2 normalisation, the embedding space; and the one built from configuration.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { providerAgent } from '../shared/provider-agent.ts';
import type { EmbeddingConfig } from '../../config.ts';
import type { EmbeddingSpace } from '../../core/documents.ts';
import type { Embedder } from '../../core/embedder.ts';
import { RivuletError, toRivuletError } from '../../core/errors.ts';
import { upstreamExcerpt } from '../../core/redact.ts';
import type { Logger } from '../../core/logger.ts';
import { retryDelay, type BackoffPolicy } from '../shared/backoff.ts';
import {
  azureOpenAIEmbeddings,
  ollamaEmbeddings,
  openAICompatibleEmbeddings,
  openAIEmbeddings,
  type EmbeddingsEndpoint,
} from './embeddings-endpoints.ts';
import { requestJson } from '../shared/provider-http.ts';

export interface HttpEmbedderOptions extends BackoffPolicy {
  /** Expected vector size (EMBEDDING_DIMENSIONS); learnt from the first answer when undefined. */
  dimensions?: number | undefined;
  /** Put before each text embedded with purpose 'query' / 'document'. */
  queryPrefix?: string;
  documentPrefix?: string;
  /** Retries are logged here. */
  logger?: Logger;
  random?: () => number;
}

/** What space() embeds when it has to learn the vector size. */
const PROBE_TEXT = 'dimension probe';
/** Stands in for a missing signal so every call has one to pass on. */
const NEVER_ABORTED = new AbortController().signal;

const badResponse = (detail: string): RivuletError => new RivuletError('UPSTREAM_BAD_RESPONSE', { detail });

export class HttpEmbedder implements Embedder {
  readonly provider: string;
  readonly model: string;
  private readonly endpoint: EmbeddingsEndpoint;
  private readonly options: HttpEmbedderOptions;
  private readonly dispatcher: Dispatcher;
  private readonly random: () => number;
  /** Configured, or learnt from the first answer; every later answer must match it. */
  private dimensions: number | undefined;
  private probing: Promise<number> | undefined;

  constructor(endpoint: EmbeddingsEndpoint, options: HttpEmbedderOptions) {
    this.endpoint = endpoint;
    this.options = options;
    this.provider = endpoint.provider;
    this.model = endpoint.model;
    this.dimensions = options.dimensions;
    this.random = options.random ?? Math.random;
    this.dispatcher = providerAgent(endpoint.stallMs);
  }

  async space(): Promise<EmbeddingSpace> {
    const dimensions = this.dimensions ?? (await this.probe());
    return { model: `${this.provider}:${this.model}`, dimensions };
  }

  async embed(
    texts: readonly string[],
    options: { signal?: AbortSignal; purpose: 'query' | 'document' },
  ): Promise<Float32Array[]> {
    const signal = options.signal ?? NEVER_ABORTED;
    signal.throwIfAborted();
    const prefix =
      (options.purpose === 'query' ? this.options.queryPrefix : this.options.documentPrefix) ?? '';
    const inputs = texts.map((text) => prefix + text);
    const vectors: Float32Array[] = [];
    for (const batch of batches(inputs, this.endpoint.maxBatchInputs, this.endpoint.maxBatchBytes)) {
      vectors.push(...(await this.embedBatch(batch, signal)));
    }
    return vectors;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** One embedding of a short text, shared by concurrent callers; a failure lets the next caller try again. */
  private probe(): Promise<number> {
    this.probing ??= this.embed([PROBE_TEXT], { purpose: 'query' }).then(
      (vectors) => vectors[0]!.length,
      (error: unknown) => {
        this.probing = undefined;
        throw error;
      },
    );
    return this.probing;
  }

  private async embedBatch(batch: readonly string[], signal: AbortSignal): Promise<Float32Array[]> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.call(batch, signal);
      } catch (caught) {
        signal.throwIfAborted();
        const error = toRivuletError(caught);
        const delay = retryDelay(error, attempt, this.options, this.random);
        if (delay === undefined) throw error;
        this.options.logger?.warn(
          {
            provider: this.provider,
            model: this.model,
            code: error.code,
            detail: error.detail,
            attempt: attempt + 1,
            delayMs: delay,
          },
          'embedding call failed, retrying',
        );
        try {
          await sleep(delay, undefined, { signal });
        } catch {
          // Aborted while waiting: the caller gets the signal's reason, not the timer's AbortError.
          signal.throwIfAborted();
        }
      }
    }
  }

  private async call(batch: readonly string[], signal: AbortSignal): Promise<Float32Array[]> {
    const answer = await requestJson({
      url: this.endpoint.url,
      headers: this.endpoint.headers,
      body: this.endpoint.body(batch),
      signal,
      dispatcher: this.dispatcher,
      stallMs: this.endpoint.stallMs,
    });
    const vectors = this.endpoint
      .vectors(answer, batch.length)
      .map((vector, index) => normalised(vector, index));
    const size = vectors[0]?.length;
    if (size === undefined) return vectors;
    const mismatch = vectors.find((vector) => vector.length !== size);
    if (mismatch !== undefined) {
      throw badResponse(`embeddings of different sizes in one answer: ${size} and ${mismatch.length}`);
    }
    if (this.dimensions !== undefined && size !== this.dimensions) {
      const source = this.options.dimensions === undefined ? 'earlier answers' : 'EMBEDDING_DIMENSIONS';
      throw badResponse(`expected ${this.dimensions} dimensions (${source}), got ${size}`);
    }
    this.dimensions = size;
    return vectors;
  }
}

/**
 * Consecutive slices of at most `maxInputs` inputs and `maxBytes` UTF-8 bytes; an input larger than `maxBytes` on
 * its own goes alone (the provider truncates it or says why not).
 */
export function batches(inputs: readonly string[], maxInputs: number, maxBytes: number): string[][] {
  const result: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const input of inputs) {
    const size = Buffer.byteLength(input, 'utf8');
    if (current.length > 0 && (current.length >= maxInputs || bytes + size > maxBytes)) {
      result.push(current);
      current = [];
      bytes = 0;
    }
    current.push(input);
    bytes += size;
  }
  if (current.length > 0) result.push(current);
  return result;
}

/** A non-empty array of finite numbers with a length, scaled to unit length. */
function normalised(vector: unknown, index: number): Float32Array {
  if (!Array.isArray(vector) || vector.length === 0) {
    throw badResponse(`embedding ${index} is not a non-empty array of numbers`);
  }
  let sumOfSquares = 0;
  for (const value of vector as unknown[]) {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw badResponse(
        `embedding ${index} holds a value that is not a finite number: ${upstreamExcerpt(JSON.stringify(value) ?? String(value), 100)}`,
      );
    }
    sumOfSquares += value * value;
  }
  const norm = Math.sqrt(sumOfSquares);
  if (norm === 0 || !Number.isFinite(norm)) throw badResponse(`embedding ${index} has length ${norm}`);
  return Float32Array.from(vector as number[], (value) => value / norm);
}

function endpointFor(config: EmbeddingConfig): EmbeddingsEndpoint {
  const { model, baseUrl, apiKey, apiVersion, dimensions, stallMs } = config;
  switch (config.kind) {
    case 'openai-compatible':
      return openAICompatibleEmbeddings({ baseUrl: baseUrl ?? '', apiKey, model, stallMs, dimensions });
    case 'openai':
      return openAIEmbeddings({ apiKey: apiKey ?? '', model, stallMs, baseUrl, dimensions });
    case 'azure-openai':
      return azureOpenAIEmbeddings({
        endpoint: baseUrl ?? '',
        apiKey: apiKey ?? '',
        deployment: model,
        stallMs,
        apiVersion,
        dimensions,
      });
    case 'ollama':
      return ollamaEmbeddings({ host: baseUrl, model, stallMs, apiKey });
    default: {
      const unreachable: never = config.kind;
      throw new Error(`unknown embedding provider ${String(unreachable)}`);
    }
  }
}

/** The embedding model from configuration, or undefined when none is configured. */
export function createEmbedder(config: EmbeddingConfig | undefined, logger: Logger): Embedder | undefined {
  if (config === undefined) return undefined;
  const endpoint = endpointFor(config);
  logger.info(
    {
      provider: endpoint.provider,
      model: endpoint.model,
      url: endpoint.url,
      dimensions: config.dimensions ?? 'learnt from the model',
    },
    'embedding model configured',
  );
  return new HttpEmbedder(endpoint, {
    dimensions: config.dimensions,
    queryPrefix: config.queryPrefix,
    documentPrefix: config.documentPrefix,
    retries: config.retries,
    baseDelayMs: config.retryBaseMs,
    maxDelayMs: config.retryMaxMs,
    logger,
  });
}
