// Counts tokens locally (o200k tokenizer) when a provider does not report usage; results are marked estimated.

import type { Usage } from '../../core/events.ts';
import type { ChatMessage } from '../../core/provider.ts';

/** Per-message framing tokens in chat formats (role markers), as OpenAI's counting guide describes. */
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_REPLY = 3;

type CountTokens = (text: string) => number;

/**
 * Prompt texts whose counts are kept: at most this many, the shortest worth keeping, the longest kept (a long history
 * answer is rarely asked about twice), and the characters of all kept texts together (the keys are the texts).
 */
const MAX_KEPT_COUNTS = 256;
const MIN_KEPT_CHARS = 256;
const MAX_KEPT_TEXT_CHARS = 32 * 1024;
const MAX_KEPT_TOTAL_CHARS = 1024 * 1024;

export class UsageEstimator {
  private counter: Promise<CountTokens> | undefined;
  /**
   * Token counts of recent prompt messages by their text. Under a token budget an answer counts its prompt twice
   * (its hold, then the whole prompt with the passages: about 170 us for 4 KB), and the same instructions and passages
   * come back answer after answer. The same text always has the same count.
   */
  private readonly counts = new Map<string, number>();
  /** Characters of the texts in `counts`. */
  private keptChars = 0;

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
    for (const message of messages)
      inputTokens += TOKENS_PER_MESSAGE + this.count(countTokens, message.content);
    return { inputTokens, outputTokens: countTokens(output), estimated: true };
  }

  private count(countTokens: CountTokens, text: string): number {
    if (text.length < MIN_KEPT_CHARS || text.length > MAX_KEPT_TEXT_CHARS) return countTokens(text);
    const known = this.counts.get(text);
    if (known !== undefined) return known;
    const tokens = countTokens(text);
    // The oldest texts go (insertion order) until the new one fits.
    for (const oldest of this.counts.keys()) {
      if (this.counts.size < MAX_KEPT_COUNTS && this.keptChars + text.length <= MAX_KEPT_TOTAL_CHARS) break;
      this.counts.delete(oldest);
      this.keptChars -= oldest.length;
    }
    this.counts.set(text, tokens);
    this.keptChars += text.length;
    return tokens;
  }

  /** How many prompt texts have their count kept, and their characters together (for tests). */
  get kept(): { texts: number; chars: number } {
    return { texts: this.counts.size, chars: this.keptChars };
  }
}
