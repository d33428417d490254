// Limits: request rates, concurrent streams, daily token budgets and the size of what a caller may send.

import { z } from 'zod';
import type { AuthConfig } from './auth.ts';
import { integer } from './fields.ts';

export const limitsSchema = z.object({
  LIMITS: z.enum(['auto', 'on', 'off']).default('auto'),
  RATE_LIMIT_PER_IP: integer(600),
  RATE_LIMIT_PER_PRINCIPAL: integer(120),
  MAX_STREAMS_PER_PRINCIPAL: integer(4),
  TOKENS_PER_DAY_PER_PRINCIPAL: integer(1_000_000),
  BUDGET_ANSWER_MAX_TOKENS: integer(4096, 1),
  MAX_CONVERSATION_MESSAGES: integer(1000, 2),
  MAX_MESSAGE_CHARS: integer(32_000, 1),
  BODY_LIMIT_BYTES: integer(1_048_576, 1024),
});
export type LimitsValues = z.infer<typeof limitsSchema>;

export interface LimitsConfig {
  /** Rate limits, concurrent streams and token budgets are enforced (on when auth is required, unless LIMITS=off). */
  enabled: boolean;
  /** Requests per minute to the API from one IP address; 0: no limit. */
  perIpPerMinute: number;
  /** Requests per minute from one principal; 0: no limit. */
  perPrincipalPerMinute: number;
  /** Answers one principal may stream at once; 0: no limit. */
  streamsPerPrincipal: number;
  /** Tokens one principal may spend per UTC day; 0: no limit. */
  tokensPerDayPerPrincipal: number;
  /**
   * Under a token budget, the most an answer that sets no max tokens of its own (request or chatbot) may write: what
   * its reservation holds for the output.
   */
  budgetAnswerMaxTokens: number;
  /** Messages a conversation may hold before a new question is refused (start a new conversation). */
  maxConversationMessages: number;
}

export interface LimitSettings {
  limits: LimitsConfig;
  maxMessageChars: number;
  bodyLimitBytes: number;
}

/** With LIMITS=auto, limits are on exactly when auth is required. */
export function resolveLimits(values: LimitsValues, authMode: AuthConfig['mode']): LimitSettings {
  return {
    limits: {
      enabled: values.LIMITS === 'on' || (values.LIMITS === 'auto' && authMode === 'required'),
      perIpPerMinute: values.RATE_LIMIT_PER_IP,
      perPrincipalPerMinute: values.RATE_LIMIT_PER_PRINCIPAL,
      streamsPerPrincipal: values.MAX_STREAMS_PER_PRINCIPAL,
      tokensPerDayPerPrincipal: values.TOKENS_PER_DAY_PER_PRINCIPAL,
      budgetAnswerMaxTokens: values.BUDGET_ANSWER_MAX_TOKENS,
      maxConversationMessages: values.MAX_CONVERSATION_MESSAGES,
    },
    maxMessageChars: values.MAX_MESSAGE_CHARS,
    bodyLimitBytes: values.BODY_LIMIT_BYTES,
  };
}
