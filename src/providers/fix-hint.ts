// What an admin should fix when the provider chain fails: "OPENAI_API_KEY rejected (401)". Shown to admins only
// (the app's fallback banner, GET /api/runs/:runId/diagnosis); visitors see the error code alone.

import type { RivuletError } from '../core/errors.ts';

/** The variable holding each provider kind's key (LLM_API_KEY serves every kind without its own). */
const KEY_VARIABLES: Record<string, string> = {
  openai: 'OPENAI_API_KEY',
  'azure-openai': 'AZURE_OPENAI_API_KEY',
  'azure-ai': 'AZURE_AI_API_KEY',
  anthropic: 'ANTHROPIC_API_KEY',
  'openai-compatible': 'LLM_API_KEY',
};

/** `provider` is a kind ("openai") or a chain key ("openai:gpt-4o-mini"). */
export function providerFixHint(provider: string, error: RivuletError): string {
  const kind = provider.split(':')[0] ?? provider;
  const status = /upstream HTTP (\d{3})/.exec(error.detail ?? '')?.[1];
  const code = status === undefined ? error.code : `HTTP ${status}`;
  const where = kind === 'ollama' ? 'OLLAMA_HOST' : 'LLM_BASE_URL';
  if (error.code === 'UPSTREAM_AUTH_FAILED') {
    return kind === 'ollama'
      ? `Ollama refused the request (${code}): check what is in front of OLLAMA_HOST.`
      : `${KEY_VARIABLES[kind] ?? 'LLM_API_KEY'} rejected (${status ?? '401'}): set a valid key for ${provider}.`;
  }
  if (error.code === 'UPSTREAM_RATE_LIMITED') {
    return `${provider} is rate limiting (${code}): raise the account's limits or add a provider to LLM_FALLBACK.`;
  }
  if (error.code === 'UPSTREAM_BAD_REQUEST') {
    return `${provider} rejected the request (${code}): check LLM_MODEL (or the chatbot's model) and ${where}.`;
  }
  if (error.code === 'UPSTREAM_TIMEOUT' || error.code === 'UPSTREAM_STALLED') {
    return `${provider} did not answer in time (${error.code}): check its load, or raise LLM_STALL_MS.`;
  }
  return `${provider} is unreachable or failing (${code}): check that it runs and that ${where} points at it.`;
}
