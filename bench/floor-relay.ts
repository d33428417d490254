// The floor of `npm run bench:answers`: one answer's own work as Rivulet does it, and nothing else. A plain node:http
// server that, for `POST /api/chat/stream` ({"message", "conversationId"?}), does what an answer cannot go without:
// - stores the question and the streaming answer in one write (a new conversation with them, or a follow-up's read
//   of its conversation and history and then that write), through Rivulet's own conversation store;
// - searches the sample corpus with Rivulet's own retriever (BM25, proximity rerank, match quality) and builds the
//   grounded prompt and the sources with Rivulet's own prompt code;
// - sends the start and sources events, asks the upstream with undici (as Rivulet's providers do), parses its SSE
//   with eventsource-parser, sends each read's tokens as token events;
// - stores the final answer, then sends the done event.
// What it leaves out is what Rivulet adds around that work: Fastify and its hooks (auth, limits, CORS, security
// headers), the run hub and its event log (resume, stop, several readers), the pipeline's phases (their events and
// times; the answer's own first-token and total times are kept), the provider chain (retries, fallback, stalls), the
// chatbot's version check (it reads the chatbot once, at start), checkpoints, metrics (the bench starts it with
// METRICS_ENABLED=false), stats and logs. So Rivulet's CPU per answer minus the floor's is what that machinery costs,
// and the floor is what the answer's work costs through Rivulet's stores and retrieval on the same machine (a faster
// store or retrieval lowers both). Not a product: an error ends the response (an `error` event) and nothing more; the
// answer's row is left as it was.
//
// Started by bench/answer-cost-bench.ts with Rivulet's environment (LLM_BASE_URL, LLM_MODEL, HOST, PORT, DATA_DIR,
// SAMPLE_CORPUS, ...): createApp opens the same stores and ingests the sample corpus, and its Fastify server never
// listens. `GET` answers 200 (the bench's readiness probe); SIGTERM closes it, so `--cpu-prof` writes its profile.

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createParser } from 'eventsource-parser';
import { Agent, request } from 'undici';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { DEFAULT_CHATBOT_ID } from '../src/core/chatbots.ts';
import { newConversationId, newMessageId } from '../src/core/conversation-ids.ts';
import type { StoredMessage } from '../src/core/conversation-store.ts';
import { promptHistory, questionAndAnswer } from '../src/core/pipeline/phases/history.ts';
import { buildGroundedMessages, toSources } from '../src/core/prompt.ts';
import { passageCandidates } from '../src/core/retriever.ts';
import type { Usage } from '../src/core/events.ts';
import type { ChatMessage } from '../src/core/provider.ts';

const config = loadConfig();
const app = await createApp(config);
const { conversations, chatbots } = app.stores;
const defaultChatbot = await chatbots.getChatbot(DEFAULT_CHATBOT_ID);
if (defaultChatbot === undefined) throw new Error('floor relay: the default chatbot is missing');
const chatbot = defaultChatbot;
const upstreamUrl = `${(process.env.LLM_BASE_URL ?? '').replace(/\/+$/, '')}/chat/completions`;
const model = process.env.LLM_MODEL ?? 'bench';
const upstream = new Agent({ keepAliveTimeout: 60_000 });

interface Question {
  message: string;
  conversationId?: string;
}

/** An SSE event as Rivulet writes its own (less the id line): the data names its type. */
function event(type: string, data: object): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

function readQuestion(body: string): Question {
  const parsed = JSON.parse(body) as Partial<Question>;
  if (typeof parsed.message !== 'string' || parsed.message === '') throw new Error('no message');
  return parsed as Question;
}

/** Stores the question and the streaming answer; returns the answer's row and the history for the prompt. */
async function storeQuestion(
  question: Question,
  runId: string,
): Promise<{ answer: StoredMessage; history: ChatMessage[]; generation: number | undefined }> {
  const messageId = newMessageId();
  const createdAt = Date.now();
  const rows = (conversationId: string): StoredMessage[] =>
    questionAndAnswer({
      conversationId,
      question: question.message,
      metadata: undefined,
      messageId,
      runId,
      createdAt,
    });
  if (question.conversationId === undefined) {
    const id = newConversationId();
    const messages = rows(id);
    let generation: number | undefined;
    await conversations.createConversation(null, chatbot.id, id, messages, {
      readGeneration: { collectionId: chatbot.collectionId, read: (read) => (generation = read) },
    });
    return { answer: messages[1] as StoredMessage, history: [], generation };
  }
  const found = await conversations.getConversationForQuestion(question.conversationId, {
    turns: config.historyLimit,
    generation: true,
  });
  if (found === undefined) throw new Error('conversation not found');
  const messages = rows(question.conversationId);
  await conversations.appendMessages(messages);
  const history = promptHistory(found.turns ?? []);
  const generation =
    found.lexical?.collectionId === chatbot.collectionId ? found.lexical.generation : undefined;
  return { answer: messages[1] as StoredMessage, history, generation };
}

async function answer(body: string, response: ServerResponse): Promise<void> {
  const startedAt = performance.now();
  const question = readQuestion(body);
  const runId = randomBytes(16).toString('base64url');
  const { answer: placeholder, history, generation } = await storeQuestion(question, runId);
  const passages = await app.retriever.search(
    chatbot.collectionId,
    question.message,
    undefined,
    config.retrieval.topK,
    undefined,
    generation,
  );
  const sources = toSources(passages);
  const match = app.retriever.assessMatch(question.message, passageCandidates(passages));
  let seq = 0;
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  // The head, the start and the sources leave in one write, as Rivulet's do.
  response.write(
    event('start', {
      seq: seq++,
      runId,
      conversationId: placeholder.conversationId,
      messageId: placeholder.id,
    }) + event('sources', { seq: seq++, sources, match }),
  );
  const messages = buildGroundedMessages({
    systemPrompt: chatbot.systemPrompt ?? config.systemPrompt,
    history,
    question: question.message,
    passages,
    glossary: [],
  });
  const reply = await request(upstreamUrl, {
    method: 'POST',
    dispatcher: upstream,
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ model, messages, stream: true, stream_options: { include_usage: true } }),
  });
  if (reply.statusCode !== 200) {
    await reply.body.dump();
    throw new Error(`upstream answered ${reply.statusCode}`);
  }
  let text = '';
  let usage: Usage | undefined;
  let ttftMs: number | null = null;
  let pending = '';
  const parser = createParser({
    onEvent: ({ data }) => {
      if (data === '[DONE]') return;
      const chunk = JSON.parse(data) as {
        choices?: { delta?: { content?: string } }[];
        usage?: { prompt_tokens: number; completion_tokens: number } | null;
      };
      const token = chunk.choices?.[0]?.delta?.content;
      if (typeof token === 'string' && token !== '') {
        text += token;
        ttftMs ??= performance.now() - startedAt;
        pending += event('token', { seq: seq++, text: token });
      }
      if (chunk.usage)
        usage = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
    },
  });
  // Decoded as a stream: a character split between two reads is joined, not mangled.
  const decoder = new TextDecoder();
  for await (const chunk of reply.body) {
    parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
    // Each read's tokens in one write.
    if (pending !== '') {
      response.write(pending);
      pending = '';
    }
  }
  // Stored with the answer and sent in its done event, as Rivulet's timings are.
  const timings = { ttftMs, totalMs: performance.now() - startedAt, phases: {} };
  await conversations.replaceMessage({
    ...placeholder,
    content: text,
    status: 'complete',
    finishReason: 'stop',
    ...(usage === undefined ? {} : { usage }),
    timings,
    sources,
  });
  response.end(event('done', { seq: seq++, finishReason: 'stop', usage, timings }));
}

function serve(request: IncomingMessage, response: ServerResponse): void {
  if (request.method === 'GET') {
    response.end('ok');
    return;
  }
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    answer(Buffer.concat(chunks).toString(), response).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/event-stream' });
      response.end(event('error', { code: 'FLOOR_FAILED', message }));
    });
  });
}

const server = createServer(serve).listen(config.port, config.host);
const stop = (): void => {
  server.closeAllConnections();
  server.close(() => void app.close().finally(() => process.exit(0)));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
