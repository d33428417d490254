// Counts tokens locally (o200k tokenizer) when a provider does not report usage; results are marked estimated.

import type { Usage } from '../../core/events.ts';
import type { ChatMessage } from '../../core/provider.ts';

/** Per-message framing tokens in chat formats (role markers), as OpenAI's counting guide describes. */
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_REPLY = 3;

type CountTokens = (text: string) => number;

export class UsageEstimator {
  private counter: Promise<CountTokens> | undefined;

  /**
   * Loads the tokenizer tables. Compiling them blocks the event loop for ~100 ms, so the server does it before it
   * listens rather than in the middle of someone's stream.
   */
  load(): Promise<CountTokens> {
    this.counter ??= import('gpt-tokenizer/encoding/o200k_base').then((module) => module.countTokens);
    return this.counter;
  }

  async estimate(messages: readonly ChatMessage[], output: string): Promise<Usage> {
    const countTokens = await this.load();
    let inputTokens = TOKENS_PER_REPLY;
    for (const message of messages) inputTokens += TOKENS_PER_MESSAGE + countTokens(message.content);
    return { inputTokens, outputTokens: countTokens(output), estimated: true };
  }
}
