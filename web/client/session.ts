// A chat conversation as a UI sees it: messages with their phase, sources, text and speed, kept up to date from the
// stream and published at most once per animation frame, so a fast model never re-renders the page per token.
// Framework-free: the React hook, the web app and the widget all sit on it.

import type { StoredMessage } from '../../src/core/conversation-store.ts';
import { EXTRACTIVE_PROVIDER } from '../../src/core/events.ts';
import type { PhaseName, RunEvent, Source, SourceMatch, Timings, Usage } from '../../src/core/events.ts';
import type { ChatAnswer } from '../../src/transports/encoders/aggregate.ts';
import { RivuletClientError, type ChatStream, type RivuletClient } from './client.ts';

export type MessageStatus = 'pending' | 'streaming' | 'complete' | 'stopped' | 'failed';

export interface MessageStats {
  /** Time to first token as the user saw it (from send, or server-measured for history), ms. */
  ttftMs: number | null;
  /** Output tokens per second while generating. */
  tokensPerSecond: number | null;
  totalMs: number | null;
  outputTokens: number | null;
  /** The server's time per pipeline phase (history, cache, retrieve, generate, ...), ms. */
  phases: Partial<Record<PhaseName, number>>;
}

export interface UiMessage {
  /** Stable key for rendering. */
  id: string;
  role: 'user' | 'assistant';
  text: string;
  status: MessageStatus;
  /** The phase the answer is in while it is being prepared or generated. */
  phase: PhaseName | null;
  /**
   * While the answer waits for the model (the server's PROVIDER_MAX_CONCURRENT is reached): its place in line, 1 is
   * next, and a rough estimate of the wait (null when the server has none yet). Cleared when its turn comes.
   */
  queue?: { position: number; estimatedWaitMs: number | null } | undefined;
  sources: Source[];
  /** How well the sources matched the question, once known (`none`: no document matched). */
  match?: SourceMatch | undefined;
  runId?: string | undefined;
  /** The question an assistant message answers (for regenerate). */
  question?: string | undefined;
  error?: { code: string; message: string } | undefined;
  cached?: boolean;
  stats?: MessageStats | undefined;
  /** Provider switches while answering ("openai -> ollama"). */
  failovers?: string[];
  /** Every provider failed and the answer quotes the retrieved passages instead; `reason` is the error code. */
  fallback?: { reason: string } | undefined;
  /** An agent answer's tool calls, in the order they began (absent for answers without tools). */
  tools?: UiToolCall[];
}

/** One tool call of an agent answer as it streams: its input as written, then its result or coded error. */
export interface UiToolCall {
  toolCallId: string;
  name: string;
  step: number;
  /** The input as the model writes it (JSON text); replaced by the parsed input's JSON once complete. */
  inputText: string;
  input?: unknown;
  /** `writing`: the model is writing the input; `running`: the tool runs; then `done` or `failed`. */
  state: 'writing' | 'running' | 'done' | 'failed';
  output?: unknown;
  error?: { code: string; message: string } | undefined;
  durationMs?: number | undefined;
}

/** The answer's call with this id, created when the model begins it. */
function toolCallOf(answer: UiMessage, toolCallId: string, name: string, step: number): UiToolCall {
  answer.tools ??= [];
  let call = answer.tools.find((candidate) => candidate.toolCallId === toolCallId);
  if (call === undefined) {
    call = { toolCallId, name, step, inputText: '', state: 'writing' };
    answer.tools.push(call);
  }
  return call;
}

/** Folds a tool event into the answer's calls (new objects, so a renderer sees the change). */
export function applyToolEvent(
  answer: UiMessage,
  event: Extract<RunEvent, { type: 'tool-input-start' | 'tool-input-delta' | 'tool-call' | 'tool-result' }>,
): void {
  switch (event.type) {
    case 'tool-input-start':
      toolCallOf(answer, event.toolCallId, event.name, event.step);
      break;
    case 'tool-input-delta': {
      const call = answer.tools?.find((candidate) => candidate.toolCallId === event.toolCallId);
      if (call !== undefined) call.inputText += event.delta;
      break;
    }
    case 'tool-call': {
      const call = toolCallOf(answer, event.toolCallId, event.name, event.step ?? 1);
      call.input = event.input;
      call.inputText = typeof event.input === 'string' ? event.input : JSON.stringify(event.input);
      call.state = 'running';
      break;
    }
    case 'tool-result': {
      const call = toolCallOf(answer, event.toolCallId, event.name, 0);
      call.output = event.output;
      call.error = event.error;
      call.durationMs = event.durationMs;
      call.state = event.error === undefined ? 'done' : 'failed';
      break;
    }
  }
  answer.tools = [...(answer.tools ?? [])];
}

/** The calls of a stored agent answer, as they ended. */
function toolsFromSteps(steps: NonNullable<StoredMessage['steps']>): UiToolCall[] {
  return steps.flatMap((step) =>
    step.toolCalls.map((call) => ({
      toolCallId: call.toolCallId,
      name: call.name,
      step: step.step,
      inputText: typeof call.input === 'string' ? call.input : JSON.stringify(call.input ?? {}),
      input: call.input,
      state: call.error === undefined ? ('done' as const) : ('failed' as const),
      output: call.output,
      error: call.error,
      durationMs: call.durationMs,
    })),
  );
}

export interface SessionSnapshot {
  messages: readonly UiMessage[];
  conversationId: string | null;
  /** True while an answer is being prepared or streamed. */
  busy: boolean;
  /** `stream`, or `json` when streaming is off or failed and answers come whole. */
  mode: 'stream' | 'json';
  /** A failure outside any answer (history could not load, for example). */
  error: { code: string; message: string } | null;
}

/** The part of Web Storage the session uses to survive a reload (sessionStorage in browsers). */
export type SessionStorageLike = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

export interface ChatSessionOptions {
  client: RivuletClient;
  chatbotId?: string | undefined;
  /** Stream answers (default) or ask for whole ones (ENABLE_FRONTEND_STREAMING=false). */
  streaming?: boolean;
  transport?: 'sse' | 'websocket';
  /** Where the conversation and the running answer's run id are kept across page reloads. */
  storage?: SessionStorageLike | undefined;
  storageKey?: string;
  /** Schedules a publication (default: requestAnimationFrame in browsers, a 16 ms timer elsewhere). */
  schedule?: (callback: () => void) => void;
}

interface Persisted {
  conversationId: string | null;
  /** The run of the answer that was streaming, and its question. */
  active?: { runId: string; question: string } | undefined;
}

let localIds = 0;
const nextId = (): string => `m${++localIds}_${Date.now().toString(36)}`;

export class ChatSession {
  #messages: UiMessage[] = [];
  #conversationId: string | null = null;
  #mode: 'stream' | 'json';
  #error: SessionSnapshot['error'] = null;
  #stream: ChatStream | undefined;
  #restoring: Promise<void> | undefined;
  #disconnect: AbortController | undefined;
  #snapshot: SessionSnapshot;
  #scheduled = false;
  readonly #listeners = new Set<(snapshot: SessionSnapshot) => void>();
  readonly #schedule: (callback: () => void) => void;

  private readonly options: ChatSessionOptions;

  constructor(options: ChatSessionOptions) {
    this.options = options;
    this.#mode = options.streaming === false ? 'json' : 'stream';
    this.#schedule =
      options.schedule ??
      (typeof requestAnimationFrame === 'function'
        ? (callback) => requestAnimationFrame(() => callback())
        : (callback) => setTimeout(callback, 16));
    this.#snapshot = this.#makeSnapshot();
  }

  get snapshot(): SessionSnapshot {
    return this.#snapshot;
  }

  subscribe(listener: (snapshot: SessionSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Restores what the storage remembers: the conversation's history and, if an answer was streaming when the page
   * went away, that answer, rejoined from its first event (so nothing is shown twice).
   */
  restore(): Promise<void> {
    this.#restoring ??= this.#restore();
    return this.#restoring;
  }

  async #restore(): Promise<void> {
    const saved = this.#load();
    if (saved.conversationId !== null) await this.open(saved.conversationId, { keepActive: true });
    const active = saved.active;
    if (active === undefined) return;
    if (this.#messages.some((message) => message.runId === active.runId)) {
      // That answer finished and is stored: the history shows it.
      this.#save({ conversationId: this.#conversationId });
      this.#publishNow();
      return;
    }
    const last = this.#messages.at(-1);
    if (last?.role !== 'user' || last.text !== active.question) {
      this.#messages.push(userMessage(active.question));
    }
    const answer = this.#startAnswer(active.question);
    answer.runId = active.runId;
    const stream = this.options.client.resume(active.runId, this.#streamOptions());
    // Restoring is done once the answer is rejoined (its first event, which names the conversation, has arrived);
    // it streams on from there. Not awaiting the whole answer lets the page work meanwhile.
    await new Promise<void>((rejoined) => {
      void this.#follow(answer, stream, performance.now(), { resumed: true, rejoined });
    });
  }

  /** Shows a stored conversation. */
  async open(conversationId: string, options: { keepActive?: boolean } = {}): Promise<void> {
    // Restoring after a reload may already be showing (and resuming) this conversation.
    if (options.keepActive !== true && this.#restoring !== undefined) await this.#restoring;
    if (options.keepActive !== true && conversationId === this.#conversationId) return;
    this.#detach();
    try {
      const { messages } = await this.options.client.conversationMessages(conversationId);
      this.#messages = fromStored(messages);
      this.#conversationId = conversationId;
      this.#error = null;
      if (options.keepActive !== true) this.#save({ conversationId });
    } catch (error) {
      const failure = toFailure(error);
      // A conversation that is gone (deleted, expired, another user's) starts over instead of failing forever.
      if (failure.code === 'CONVERSATION_NOT_FOUND') this.#save({ conversationId: null });
      else this.#error = failure;
      this.#messages = [];
      this.#conversationId = null;
    }
    this.#publishNow();
  }

  /** Starts a new conversation (a running answer keeps running on the server and stays in its conversation). */
  reset(): void {
    this.#detach();
    this.#messages = [];
    this.#conversationId = null;
    this.#error = null;
    this.#save({ conversationId: null });
    this.#publishNow();
  }

  /** Asks a question; resolves when the answer has ended. */
  async send(question: string): Promise<void> {
    // A question asked while the page is still restoring belongs to the restored conversation, after its history.
    if (this.#restoring !== undefined) await this.#restoring;
    const text = question.trim();
    if (text === '' || this.#snapshot.busy) return;
    this.#messages.push(userMessage(text));
    const answer = this.#startAnswer(text);
    await this.#ask(answer, text);
  }

  /** Asks the last answered question again, replacing that answer. */
  async regenerate(): Promise<void> {
    if (this.#snapshot.busy) return;
    const index = this.#messages.findLastIndex((message) => message.role === 'assistant');
    const question = index === -1 ? undefined : this.#messages[index]?.question;
    if (question === undefined) return;
    this.#messages.splice(index, 1);
    const answer = this.#startAnswer(question);
    await this.#ask(answer, question);
  }

  /** Stops the answer being generated: the server aborts the provider call and stores the partial answer. */
  async stop(): Promise<void> {
    await this.#stream?.stop();
  }

  /** Disconnects from the running answer without stopping it (it can be rejoined after a reload). */
  dispose(): void {
    // Detach before disconnecting, so the stream that ends now is no longer this session's: #follow then neither
    // marks the answer failed nor rewrites the storage without the running answer's run id. (It used to do both,
    // so a page created after dispose() found nothing to rejoin and showed the question without its answer.)
    this.#detach();
    this.#listeners.clear();
  }

  #startAnswer(question: string): UiMessage {
    const answer: UiMessage = {
      id: nextId(),
      role: 'assistant',
      text: '',
      status: 'pending',
      phase: null,
      sources: [],
      question,
    };
    this.#messages.push(answer);
    this.#publishNow();
    return answer;
  }

  async #ask(answer: UiMessage, question: string): Promise<void> {
    const request = {
      message: question,
      conversationId: this.#conversationId ?? undefined,
      chatbotId: this.options.chatbotId,
    };
    const sentAt = performance.now();
    if (this.#mode === 'json') {
      await this.#askWhole(answer, request, sentAt);
      return;
    }
    const stream = this.options.client.chat(request, this.#streamOptions());
    const fellBack = await this.#follow(answer, stream, sentAt);
    if (fellBack) await this.#askWhole(answer, request, sentAt);
  }

  #streamOptions(): { transport: 'sse' | 'websocket'; signal: AbortSignal } {
    this.#disconnect = new AbortController();
    return { transport: this.options.transport ?? 'sse', signal: this.#disconnect.signal };
  }

  /**
   * Applies a stream's events to the answer. Returns true when streaming failed before the first event in a way
   * a whole answer may avoid (a proxy that breaks event streams, a network that cuts long responses).
   */
  async #follow(
    answer: UiMessage,
    stream: ChatStream,
    sentAt: number,
    resume: { resumed: boolean; rejoined?: () => void } = { resumed: false },
  ): Promise<boolean> {
    this.#stream = stream;
    let firstTokenAt: number | undefined;
    let tokens = 0;
    void stream.waitForRunId().then((runId) => {
      if (runId === undefined || this.#stream !== stream) return;
      answer.runId = runId;
      this.#save({
        conversationId: this.#conversationId,
        active: { runId, question: answer.question ?? '' },
      });
    });
    try {
      for await (const event of stream) {
        if (this.#stream !== stream) return false;
        if (event.type === 'token') {
          firstTokenAt ??= performance.now();
          tokens++;
        }
        this.#apply(answer, event, { sentAt, firstTokenAt, tokens, resumed: resume.resumed });
        if (event.type === 'start') {
          // A new conversation's id arrives with `start`, after the run id was saved (with conversationId null,
          // which restore() skips). Save both now, or a reload during the first answer could not rejoin it.
          this.#save({
            conversationId: this.#conversationId,
            active: { runId: event.runId, question: answer.question ?? '' },
          });
        }
        if (event.type === 'token') this.#publishSoon();
        else this.#publishNow();
        resume.rejoined?.();
      }
      if (stream.terminal === undefined && this.#stream === stream) {
        // Ended without a terminal event: the user left (signal) or the run vanished from the server.
        if (answer.status === 'pending' || answer.status === 'streaming') {
          this.#fail(answer, { code: 'STREAM_INTERRUPTED', message: 'The answer was interrupted.' });
        }
      }
    } catch (error) {
      if (this.#stream !== stream) return false;
      const failure = toFailure(error);
      if (resume.resumed && (failure.code === 'RUN_NOT_FOUND' || failure.code === 'RUN_INTERRUPTED')) {
        // The run expired from the server since the reload, or a restart cut it off: its stored message (if any,
        // with its text so far) is in the history.
        this.#messages = this.#messages.filter((message) => message !== answer);
        if (this.#conversationId !== null) void this.open(this.#conversationId, { keepActive: true });
        return false;
      }
      // Only a new question can fall back to a whole answer (send() asks again). A rejoined answer cannot: left
      // 'pending' it kept the session busy for good (and switched it to json mode), so it fails like any other.
      // And only when the server never named a run: if it did, the question is being answered already, and asking
      // again would answer (and charge) it twice.
      if (
        !resume.resumed &&
        stream.lastSeq < 0 &&
        stream.runId === undefined &&
        streamingMayBeTheProblem(error)
      ) {
        this.#mode = 'json';
        return true;
      }
      this.#fail(answer, failure);
    } finally {
      if (this.#stream === stream) {
        this.#stream = undefined;
        this.#save({ conversationId: this.#conversationId });
        this.#publishNow();
      }
      resume.rejoined?.();
    }
    return false;
  }

  async #askWhole(answer: UiMessage, request: object, sentAt: number): Promise<void> {
    answer.phase = 'generate';
    this.#publishNow();
    try {
      const whole = await this.options.client.complete(request as { message: string });
      this.#applyWhole(answer, whole, sentAt);
    } catch (error) {
      this.#fail(answer, toFailure(error));
    }
    this.#publishNow();
  }

  #apply(
    answer: UiMessage,
    event: RunEvent,
    clock: { sentAt: number; firstTokenAt: number | undefined; tokens: number; resumed: boolean },
  ): void {
    switch (event.type) {
      case 'start':
        answer.runId = event.runId;
        this.#conversationId = event.conversationId;
        break;
      case 'done': {
        const now = performance.now();
        answer.text = event.text;
        answer.phase = null;
        answer.queue = undefined;
        answer.cached = event.cached;
        answer.status = event.finishReason === 'aborted' ? 'stopped' : 'complete';
        if (clock.resumed) {
          // Rejoined after a reload: this page saw a replay, so its own clock measured the reconnection. The
          // server's timings are the answer's own (from the question's arrival).
          answer.stats = statsFrom(event.timings, event.usage, event.cached);
          break;
        }
        const outputTokens = event.usage?.outputTokens ?? clock.tokens;
        const generating = clock.firstTokenAt === undefined ? null : now - clock.firstTokenAt;
        answer.stats = {
          ttftMs: clock.firstTokenAt === undefined ? null : clock.firstTokenAt - clock.sentAt,
          tokensPerSecond: rate(event.cached ? null : outputTokens, generating),
          totalMs: now - clock.sentAt,
          outputTokens: event.cached ? 0 : outputTokens,
          phases: event.timings.phases,
        };
        break;
      }
      case 'phase':
      case 'sources':
      case 'token':
      case 'queued':
      case 'failover':
      case 'error':
      case 'tool-input-start':
      case 'tool-input-delta':
      case 'tool-call':
      case 'tool-result':
      case 'usage':
      case 'step':
        applyAnswerEvent(answer, event);
    }
  }

  #applyWhole(answer: UiMessage, whole: ChatAnswer, sentAt: number): void {
    answer.runId = whole.runId ?? undefined;
    if (whole.conversationId !== null) this.#conversationId = whole.conversationId;
    answer.text = whole.text;
    answer.sources = whole.sources;
    answer.match = whole.match ?? undefined;
    if (whole.toolSteps.length > 0) {
      answer.tools = whole.toolSteps.map((call) => ({
        toolCallId: call.toolCallId,
        name: call.name,
        step: call.step ?? 1,
        inputText: typeof call.input === 'string' ? call.input : JSON.stringify(call.input ?? {}),
        input: call.input,
        state: call.error === undefined ? 'done' : 'failed',
        output: call.output,
        error: call.error,
        durationMs: call.durationMs,
      }));
    }
    answer.cached = whole.cached;
    answer.phase = null;
    answer.status = whole.finishReason === 'aborted' ? 'stopped' : 'complete';
    answer.stats = statsFrom(whole.timings, whole.usage, whole.cached);
    if (answer.stats.totalMs === null) answer.stats.totalMs = performance.now() - sentAt;
    this.#save({ conversationId: this.#conversationId });
  }

  #fail(answer: UiMessage, failure: { code: string; message: string }): void {
    failAnswer(answer, failure);
  }

  #detach(): void {
    this.#stream = undefined;
    this.#disconnect?.abort();
    this.#disconnect = undefined;
  }

  #makeSnapshot(): SessionSnapshot {
    return {
      // New objects for the messages that may have changed, so renderers can compare by identity.
      messages: this.#messages.map((message) => ({ ...message })),
      conversationId: this.#conversationId,
      busy:
        this.#stream !== undefined ||
        this.#messages.some((m) => m.status === 'pending' || m.status === 'streaming'),
      mode: this.#mode,
      error: this.#error,
    };
  }

  #publishNow(): void {
    this.#snapshot = this.#makeSnapshot();
    for (const listener of this.#listeners) listener(this.#snapshot);
  }

  #publishSoon(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#schedule(() => {
      this.#scheduled = false;
      this.#publishNow();
    });
  }

  #load(): Persisted {
    try {
      const raw = this.options.storage?.getItem(this.#storageKey);
      if (raw === null || raw === undefined) return { conversationId: null };
      const parsed = JSON.parse(raw) as Persisted;
      return typeof parsed === 'object' && parsed !== null ? parsed : { conversationId: null };
    } catch {
      return { conversationId: null };
    }
  }

  #save(value: Persisted): void {
    try {
      this.options.storage?.setItem(this.#storageKey, JSON.stringify(value));
    } catch {
      // Storage full or blocked (private mode): the session still works, it just cannot survive a reload.
    }
  }

  get #storageKey(): string {
    return this.options.storageKey ?? `rivulet:${this.options.chatbotId ?? 'default'}`;
  }
}

/**
 * The part of an answer's rendering that needs no clock: phase, sources, text, failovers, tool calls, a failure.
 * `start` and `done` (which set ids and speed figures) are left to the caller; so is everything else.
 */
export function applyAnswerEvent(answer: UiMessage, event: RunEvent): void {
  switch (event.type) {
    case 'phase':
      answer.phase = event.state === 'start' ? event.name : answer.phase;
      break;
    case 'sources':
      answer.sources = event.sources;
      answer.match = event.match;
      break;
    case 'token':
      answer.text += event.text;
      answer.status = 'streaming';
      answer.queue = undefined;
      break;
    case 'queued':
      answer.queue =
        event.position > 0 ? { position: event.position, estimatedWaitMs: event.estimatedWaitMs } : undefined;
      break;
    case 'failover':
      answer.failovers = [...(answer.failovers ?? []), `${event.from} → ${event.to}`];
      if (event.to === EXTRACTIVE_PROVIDER) answer.fallback = { reason: event.reason };
      break;
    case 'error':
      failAnswer(answer, { code: event.code, message: event.message });
      break;
    case 'tool-input-start':
    case 'tool-input-delta':
    case 'tool-call':
    case 'tool-result':
      applyToolEvent(answer, event);
      break;
    case 'start':
    case 'done':
    case 'usage':
    case 'step':
      break;
  }
}

function failAnswer(answer: UiMessage, failure: { code: string; message: string }): void {
  // The partial text stays on screen, marked as failed: a half answer never looks complete.
  answer.status = 'failed';
  answer.phase = null;
  answer.queue = undefined;
  answer.error = failure;
}

function userMessage(text: string): UiMessage {
  return { id: nextId(), role: 'user', text, status: 'complete', phase: null, sources: [] };
}

/** What an answer cut off by a server restart says under its text so far. */
const INTERRUPTED_MESSAGE =
  'The server restarted while this answer was being written: ask again for the rest.';

/**
 * Stored messages as UI messages (each answer remembers its question for regenerate). An answer still streaming is
 * left out: its stored text is only a checkpoint, and the live answer is rejoined (or shown once it has ended).
 */
export function fromStored(stored: readonly StoredMessage[]): UiMessage[] {
  let question: string | undefined;
  const messages: UiMessage[] = [];
  for (const message of stored) {
    if (message.role === 'user') {
      question = message.content;
      messages.push({ ...userMessage(message.content), id: message.id });
      continue;
    }
    if (message.status === 'streaming') continue;
    const interrupted = message.status === 'interrupted';
    messages.push({
      id: message.id,
      role: 'assistant',
      text: message.content,
      // A half answer never looks complete: an interrupted one shows as failed, with its text so far.
      status:
        message.status === 'stopped'
          ? 'stopped'
          : message.status === 'failed' || interrupted
            ? 'failed'
            : 'complete',
      phase: null,
      sources: message.sources ?? [],
      runId: message.runId,
      question,
      cached: message.cached === true,
      ...(message.errorCode === undefined
        ? {}
        : {
            error: {
              code: message.errorCode,
              message: interrupted ? INTERRUPTED_MESSAGE : 'This answer did not complete.',
            },
          }),
      stats: statsFrom(message.timings ?? null, message.usage ?? null, message.cached === true),
      ...(message.steps === undefined ? {} : { tools: toolsFromSteps(message.steps) }),
    });
  }
  return messages;
}

export function statsFrom(timings: Timings | null, usage: Usage | null, cached: boolean): MessageStats {
  const ttftMs = timings?.ttftMs ?? null;
  const totalMs = timings?.totalMs ?? null;
  const outputTokens = cached ? 0 : (usage?.outputTokens ?? null);
  const generating = ttftMs === null || totalMs === null ? null : totalMs - ttftMs;
  return {
    ttftMs,
    totalMs,
    outputTokens,
    tokensPerSecond: rate(cached ? null : outputTokens, generating),
    phases: timings?.phases ?? {},
  };
}

function rate(tokens: number | null, ms: number | null): number | null {
  if (tokens === null || ms === null || ms <= 0 || tokens <= 1) return null;
  return tokens / (ms / 1000);
}

function toFailure(error: unknown): { code: string; message: string } {
  if (error instanceof RivuletClientError) return { code: error.code, message: error.message };
  return { code: 'CLIENT_ERROR', message: 'Something went wrong in the page.' };
}

/** Failures a non-streaming request may get past: the network or a proxy, not a refusal of the question. */
function streamingMayBeTheProblem(error: unknown): boolean {
  if (!(error instanceof RivuletClientError)) return true;
  if (error.code === 'NETWORK_ERROR' || error.code === 'STREAM_INTERRUPTED') return true;
  // A proxy's own error page has no code of ours.
  return error.code.startsWith('HTTP_');
}
