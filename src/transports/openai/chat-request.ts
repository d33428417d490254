// Reads an OpenAI chat completion request into a Rivulet question: `model` names the chatbot, the last user message
// is the question and the user and assistant turns before it are its history. Unknown OpenAI fields are ignored.

import { z } from 'zod';
import { RivuletError } from '../../core/errors.ts';
import { parseWith } from '../schemas.ts';

/** `content` as OpenAI sends it: a string, parts (only text parts are read), or null (an assistant's tool call). */
const contentSchema = z
  .union([z.string(), z.array(z.looseObject({ type: z.string(), text: z.string().optional() })), z.null()])
  .optional();

const messageSchema = z.looseObject({
  role: z.string(),
  content: contentSchema,
});

const optionalPositive = z.number().int().min(1).max(1_000_000).nullish();

export const chatCompletionRequestSchema = z.looseObject({
  model: z.string().min(1).max(200),
  messages: z.array(messageSchema).min(1, 'must hold at least one message').max(10_000),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  max_tokens: optionalPositive,
  max_completion_tokens: optionalPositive,
});

export interface HistoryTurn {
  role: 'user' | 'assistant';
  content: string;
}

export interface CompletionRequest {
  chatbotId: string;
  question: string;
  /**
   * Earlier user and assistant turns, oldest first (system and tool messages are not history: the chatbot has its
   * own prompt).
   */
  history: HistoryTurn[];
  stream: boolean;
  includeUsage: boolean;
  temperature: number | undefined;
  /** `max_completion_tokens`, else the older `max_tokens`. */
  maxTokens: number | undefined;
}

function textOf(content: z.infer<typeof contentSchema>): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .filter((part) => part.type === 'text' && part.text !== undefined)
    .map((part) => part.text)
    .join('');
}

/** VALIDATION_FAILED (naming the field) for a body OpenAI would refuse too, or one without a question. */
export function readCompletionRequest(body: unknown): CompletionRequest {
  const request = parseWith(chatCompletionRequestSchema, body);
  const lastUser = request.messages.findLastIndex((message) => message.role === 'user');
  const question = lastUser === -1 ? '' : textOf(request.messages[lastUser]?.content);
  if (lastUser === -1 || question.trim() === '') {
    throw new RivuletError('VALIDATION_FAILED', {
      message: 'Invalid request: messages: must end with a user message that has text (the question).',
    });
  }
  const history: HistoryTurn[] = [];
  for (const message of request.messages.slice(0, lastUser)) {
    if (message.role !== 'user' && message.role !== 'assistant') continue;
    const content = textOf(message.content);
    if (content.trim() !== '') history.push({ role: message.role, content });
  }
  return {
    chatbotId: request.model,
    question,
    history,
    stream: request.stream === true,
    includeUsage: request.stream_options?.include_usage === true,
    temperature: request.temperature ?? undefined,
    maxTokens: request.max_completion_tokens ?? request.max_tokens ?? undefined,
  };
}
