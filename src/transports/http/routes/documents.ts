// Documents of a chatbot's collection: upload (multipart, with per-file progress as SSE on request), list, get,
// delete. Each file's failure is reported with its code and name; the rest of the upload still goes in.

import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { DEFAULT_CHATBOT_ID, type Chatbot } from '../../../core/chatbots.ts';
import { ERROR_CODES, RivuletError, isErrorCode } from '../../../core/errors.ts';
import { canManage, inOrganisation } from '../../../core/principal.ts';
import {
  addToSummary,
  emptySummary,
  type IngestProgress,
  type IngestSummary,
} from '../../../retrieval/ingest.ts';
import { formatSseComment, formatSseFrame } from '../../encoders/sse.ts';
import { idSchema, parseWith } from '../../schemas.ts';
import { principalOf, requireAdmin } from '../access.ts';
import type { AppContext } from '../context.ts';

/** Files per upload request. */
const MAX_FILES = 100;

const collectionQuery = z.strictObject({ chatbotId: idSchema.optional() });
const listQuery = collectionQuery.extend({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});
const uploadQuery = collectionQuery.extend({
  textFields: z
    .string()
    .max(2000)
    .transform((value) =>
      value
        .split(',')
        .map((field) => field.trim())
        .filter((field) => field !== ''),
    )
    .optional(),
  titleField: z.string().min(1).max(200).optional(),
});
const params = z.strictObject({ documentId: idSchema });

export async function registerDocumentRoutes(server: FastifyInstance, context: AppContext): Promise<void> {
  const { documents, chatbots } = context.stores;
  await server.register(multipart, {
    limits: {
      fileSize: context.config.documentMaxBytes,
      files: MAX_FILES,
      fields: 20,
      parts: MAX_FILES + 20,
    },
  });

  /**
   * The chatbot whose collection a request works on: reading needs a member of its organisation, changing it an
   * admin of it. A chatbot of another organisation is "not found".
   */
  async function chatbotFor(
    request: FastifyRequest,
    chatbotId: string | undefined,
    access: 'read' | 'manage',
  ): Promise<Chatbot> {
    const principal = principalOf(request);
    if (principal.kind === 'anonymous') throw new RivuletError('UNAUTHORIZED');
    const chatbot = await chatbots.getChatbot(chatbotId ?? DEFAULT_CHATBOT_ID);
    if (chatbot === undefined || !inOrganisation(principal, chatbot))
      throw new RivuletError('CHATBOT_NOT_FOUND');
    if (access === 'manage' && !canManage(principal, chatbot)) {
      requireAdmin(principal);
      throw new RivuletError('FORBIDDEN', {
        message: 'Only an admin of this chatbot’s organisation may change its documents.',
      });
    }
    return chatbot;
  }

  server.post('/api/documents', async (request, reply) => {
    const query = parseWith(uploadQuery, request.query, 'query');
    if (!request.isMultipart()) {
      throw new RivuletError('UNSUPPORTED_MEDIA_TYPE', {
        message: 'Upload files as multipart/form-data (one part per file).',
      });
    }
    const chatbot = await chatbotFor(request, query.chatbotId, 'manage');
    const progress =
      request.headers.accept?.includes('text/event-stream') === true
        ? openProgressStream(reply, context.config.sse.pingMs)
        : undefined;
    const summary = emptySummary();
    try {
      let index = 0;
      for await (const part of request.files({ throwFileSizeLimit: false })) {
        const source = uploadName(part.filename, index);
        progress?.send({ type: 'file-start', source, index, total: null });
        const bytes = await part.toBuffer();
        const result = part.file.truncated
          ? {
              source,
              status: 'failed' as const,
              bytes: bytes.length,
              error: {
                code: 'DOCUMENT_TOO_LARGE',
                message: `${source}: larger than DOCUMENT_MAX_BYTES (${context.config.documentMaxBytes} bytes).`,
              },
            }
          : await context.ingestor.ingest(
              { source, bytes },
              {
                collectionId: chatbot.collectionId,
                ownerId: principalOf(request).id,
                ...(query.textFields === undefined ? {} : { textFields: query.textFields }),
                ...(query.titleField === undefined ? {} : { titleField: query.titleField }),
              },
            );
        addToSummary(summary, result);
        progress?.send({ type: 'file-done', result, index, total: null });
        index += 1;
      }
    } catch (caught) {
      // Reading the form stopped part-way: let the rest of the body drain, as Node does with any body no handler
      // reads. Left paused (a multipart type without a boundary did that), it wedged the keep-alive connection and the
      // next request on it never got an answer.
      request.raw.resume();
      await context.ingestor.finishBatch(chatbot.collectionId);
      // Past MAX_FILES the rest of the upload is refused, but the files before it went in: say which.
      const code = (caught as { code?: unknown }).code;
      const error =
        code === 'FST_FILES_LIMIT' || code === 'FST_PARTS_LIMIT' || code === 'FST_FIELDS_LIMIT'
          ? new RivuletError('PAYLOAD_TOO_LARGE', {
              message: `At most ${MAX_FILES} files and 20 other fields per upload; the first ${summary.results.length} files were processed, the rest were not.`,
            })
          : caught instanceof RivuletError
            ? caught
            : // ingest() reports its own failures, so whatever else is thrown here came from reading the form: no
              // boundary, a truncated body, malformed part headers (busboy's plain Errors). That is the client's
              // malformed upload, not an internal error (it was a 500, logged as an error).
              new RivuletError('BAD_REQUEST', {
                message: `The upload is not valid multipart/form-data; the first ${summary.results.length} files were processed, the rest were not.`,
                detail: caught instanceof Error ? caught.message : String(caught),
              });
      if (progress !== undefined) {
        request.log.info({ code: error.code, detail: error.detail }, 'upload refused');
        progress.fail(error);
        return reply;
      }
      if (summary.results.length === 0) throw error;
      return reply.code(error.status).send({ ...error.toJSON(), ...summary });
    }
    await context.ingestor.finishBatch(chatbot.collectionId);
    if (summary.results.length === 0) {
      const error = new RivuletError('VALIDATION_FAILED', {
        message: 'Invalid request: the upload holds no file.',
      });
      if (progress === undefined) throw error;
      progress.fail(error);
      return reply;
    }
    if (progress !== undefined) {
      progress.end(summary);
      return reply;
    }
    return sendSummary(reply, summary);
  });

  server.get('/api/documents', async (request) => {
    const query = parseWith(listQuery, request.query, 'query');
    const chatbot = await chatbotFor(request, query.chatbotId, 'read');
    const [list, counts] = await Promise.all([
      documents.listDocuments(chatbot.collectionId, { limit: query.limit, offset: query.offset }),
      documents.countDocuments(chatbot.collectionId),
    ]);
    return { documents: list, total: counts.documents, chunks: counts.chunks };
  });

  /** A document outside the chatbot's collection is "not found", as if it did not exist. */
  async function findDocument(request: FastifyRequest, access: 'read' | 'manage') {
    const { documentId } = parseWith(params, request.params, 'path');
    const { chatbotId } = parseWith(collectionQuery, request.query, 'query');
    const chatbot = await chatbotFor(request, chatbotId, access);
    const document = await documents.getDocument(documentId);
    if (document === undefined || document.collectionId !== chatbot.collectionId) {
      throw new RivuletError('DOCUMENT_NOT_FOUND');
    }
    return document;
  }

  server.get('/api/documents/:documentId', async (request) => findDocument(request, 'read'));

  server.delete('/api/documents/:documentId', async (request, reply) => {
    const document = await findDocument(request, 'manage');
    await documents.deleteDocument(document.id);
    return reply.code(204).send();
  });
}

/** The upload's file name without any directory part (a browser may send "C:\\fakepath\\x.pdf"). */
function uploadName(filename: string | undefined, index: number): string {
  const base = (filename ?? '').split(/[\\/]/u).pop()?.trim() ?? '';
  // eslint-disable-next-line no-control-regex -- control characters never belong in a name shown in logs and UIs
  const clean = base.replace(/[\u0000-\u001f\u007f]/gu, '').slice(0, 255);
  return clean === '' ? `upload-${index + 1}` : clean;
}

/** 200 when anything went in; when every file failed, the first failure's status and code lead the body. */
function sendSummary(reply: FastifyReply, summary: IngestSummary): FastifyReply {
  const firstError = summary.results.find((result) => result.error !== undefined)?.error;
  if (summary.failed === summary.results.length && firstError !== undefined) {
    const status = isErrorCode(firstError.code) ? ERROR_CODES[firstError.code].status : 422;
    return reply.code(status).send({ error: firstError, ...summary });
  }
  return reply.send(summary);
}

interface ProgressStream {
  send(progress: IngestProgress): void;
  end(summary: IngestSummary): void;
  fail(error: unknown): void;
}

/** Per-file progress as SSE: `progress` events, then one `summary` (or `error`) event. */
function openProgressStream(reply: FastifyReply, pingMs: number): ProgressStream {
  reply.hijack();
  const response = reply.raw;
  response.writeHead(200, {
    ...(reply.getHeaders() as Record<string, string | number | string[]>),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
  });
  const write = (event: string, data: unknown): void => {
    if (!response.destroyed) response.write(formatSseFrame({ event, data: JSON.stringify(data) }));
  };
  // A large PDF can take a while: keep proxies from closing a quiet stream, as the chat streams do.
  const ping = setInterval(() => {
    if (!response.destroyed) response.write(formatSseComment('ping'));
  }, pingMs);
  const finish = (): void => {
    clearInterval(ping);
    response.end();
  };
  response.once('close', () => clearInterval(ping));
  return {
    send: (progress) => write('progress', progress),
    end(summary) {
      write('summary', summary);
      finish();
    },
    fail(error) {
      const coded =
        error instanceof RivuletError ? error : new RivuletError('BAD_REQUEST', { detail: String(error) });
      write('error', { code: coded.code, message: coded.message });
      finish();
    },
  };
}
