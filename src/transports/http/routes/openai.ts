// The OpenAI-compatible API: POST /v1/chat/completions (streaming chunks or one completion, over the same run as
// every other endpoint) and GET /v1/models (the chatbots the caller may use). Errors are in OpenAI's shape (the
// scope's error handler, server.ts).

import type { FastifyInstance } from 'fastify';
import type { Chatbot } from '../../../core/chatbots.ts';
import { RivuletError, statusForCode } from '../../../core/errors.ts';
import { chatRefusal, type Principal } from '../../../core/principal.ts';
import { openAiChunkFormat, toChatCompletion } from '../../encoders/openai-chunks.ts';
import { readCompletionRequest } from '../../openai/chat-request.ts';
import { openAiErrorBody } from '../../openai/openai-errors.ts';
import { startCompletion } from '../../openai/start-completion.ts';
import { parseWith } from '../../schemas.ts';
import { principalOf } from '../access.ts';
import { collectAnswer } from '../collect-answer.ts';
import type { AppContext } from '../context.ts';
import { streamCompressionFor, streamRunToResponse } from '../stream-response.ts';
import { z } from 'zod';

const modelParamsSchema = z.strictObject({ model: z.string().min(1).max(200) });

/** A chatbot as an OpenAI model. */
function toModel(chatbot: Chatbot) {
  return {
    id: chatbot.id,
    object: 'model',
    created: Math.floor(chatbot.createdAt / 1000),
    owned_by: chatbot.orgId ?? 'rivulet',
  };
}

const usableBy = (principal: Principal) => (chatbot: Chatbot) =>
  chatRefusal(principal, chatbot) === undefined;

export function registerOpenAiRoutes(server: FastifyInstance, context: AppContext): void {
  const deps = {
    chat: context.chat,
    chatbots: context.stores.chatbots,
    conversations: context.stores.conversations,
  };

  server.get('/v1/models', async (request) => {
    const chatbots = await context.stores.chatbots.listChatbots();
    return { object: 'list', data: chatbots.filter(usableBy(principalOf(request))).map(toModel) };
  });

  server.get('/v1/models/:model', async (request) => {
    const { model } = parseWith(modelParamsSchema, request.params, 'path');
    const chatbot = await context.stores.chatbots.getChatbot(model);
    if (chatbot === undefined || !usableBy(principalOf(request))(chatbot)) {
      throw new RivuletError('CHATBOT_NOT_FOUND');
    }
    return toModel(chatbot);
  });

  server.post('/v1/chat/completions', async (request, reply) => {
    const completion = readCompletionRequest(request.body);
    const run = await startCompletion(deps, completion, principalOf(request));
    // Ties the request id a user can quote to the run id every pipeline log line carries.
    request.log.info({ runId: run.runId }, 'run started');
    const options = { model: completion.chatbotId, created: Math.floor(Date.now() / 1000) };

    if (completion.stream) {
      reply.hijack();
      const streamed = await streamRunToResponse(reply.raw, {
        hub: context.hub,
        runId: run.runId,
        afterSeq: -1,
        format: openAiChunkFormat({ ...options, includeUsage: completion.includeUsage }),
        timing: context.config.sse,
        compression: streamCompressionFor(context, request),
        headers: { ...reply.getHeaders(), 'x-run-id': run.runId, 'x-request-id': request.id },
      });
      // Refused a reader (TOO_MANY_READERS): nobody would read this answer, so it is not generated.
      if (!streamed) await context.hub.stop(run.runId);
      else await stopIfUnread(context, run.runId);
      return reply;
    }

    const answer = await collectAnswer(context.hub, run.runId, reply.raw);
    if (reply.raw.destroyed) {
      await stopIfUnread(context, run.runId);
      return reply;
    }
    // A reader that ended without a terminal event (the run vanished from the hub) must not look like an answer.
    if (answer.finishReason === null) throw new RivuletError('RUN_NOT_FOUND');
    reply.header('x-run-id', run.runId);
    if (answer.error !== null) {
      const status = statusForCode(answer.error.code);
      return reply.code(status).send(openAiErrorBody({ ...answer.error, status }));
    }
    return toChatCompletion(answer, run.runId, options);
  });
}

/**
 * An OpenAI client that aborts its request means to stop paying, as with OpenAI itself: once its connection is gone
 * the answer is stopped at once (stored as stopped), not after the disconnect grace, unless another reader follows
 * it (a client that resumed through /api/runs/:id/events with the X-Run-Id). A finished run is left as it is.
 */
async function stopIfUnread(context: AppContext, runId: string): Promise<void> {
  const info = await context.hub.info(runId);
  if (info !== undefined && info.state === 'running' && info.readers === 0) await context.hub.stop(runId);
}
