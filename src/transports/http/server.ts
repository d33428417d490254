// Builds the Fastify server: routes, body limits, and the error handler that turns everything into coded JSON.

import websocket from '@fastify/websocket';
import Fastify, {
  type ConnectionError,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import type { Socket } from 'node:net';
import type { TrustProxy } from '../../config.ts';
import { ERROR_CODES, RivuletError, type ErrorCode } from '../../core/errors.ts';
import { WS_PROTOCOL } from '../auth.ts';
import { registerAccess } from './access.ts';
import type { AppContext } from './context.ts';
import { originPolicy } from './origins.ts';
import { registerAdminRoutes } from './routes/admin.ts';
import { registerChatRoutes } from './routes/chat.ts';
import { registerConversationRoutes } from './routes/conversations.ts';
import { registerDocumentRoutes } from './routes/documents.ts';
import { registerPassageRoutes } from './routes/passages.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerMetricsRoutes } from './routes/metrics.ts';
import { registerOpenAiRoutes } from './routes/openai.ts';
import { openAiErrorBody } from '../openai/openai-errors.ts';
import { registerDiagnosisRoutes } from './routes/diagnosis.ts';
import { registerStatsRoutes } from './routes/stats.ts';
import { registerRoomRoutes } from './routes/rooms.ts';
import { registerRunRoutes } from './routes/runs.ts';
import { registerUiChatRoutes } from './routes/ui-chat.ts';
import { registerWebRoutes } from './routes/web.ts';
import { registerWsRoutes } from './routes/ws.ts';
import { registerSecurityHeaders } from './security-headers.ts';

/** WebSocket messages are small JSON commands; anything larger is closed with 1009 by ws. */
const WS_MAX_PAYLOAD_BYTES = 256 * 1024;

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_VALIDATION: 'VALIDATION_FAILED',
  // Router refusals (through `frameworkErrors`): a path that is not valid percent-encoding (`/api/runs/%ff/events`),
  // a path parameter over maxParamLength.
  FST_ERR_BAD_URL: 'BAD_REQUEST',
  FST_ERR_MAX_PARAM_LENGTH: 'VALIDATION_FAILED',
};

export async function buildServer(
  context: AppContext,
  logger: FastifyServerOptions['loggerInstance'],
): Promise<FastifyInstance> {
  const server = Fastify({
    loggerInstance: logger,
    bodyLimit: context.config.bodyLimitBytes,
    // Client-supplied request ids would let one user forge another's log lines.
    genReqId: () => `req_${crypto.randomUUID()}`,
    requestIdHeader: false,
    // Behind a proxy, request.ip (what per-IP limits, anonymous visitors' limits and logs go by) is the address the
    // trusted proxies forwarded; without TRUST_PROXY it is the socket's, and X-Forwarded-For is ignored.
    trustProxy: trustProxyOption(context.config.trustProxy),
    return503OnClosing: true,
    // Long ids reach our schemas and get a coded 400 instead of the router's uncoded 414.
    routerOptions: { maxParamLength: 8192 },
    // Without these, Fastify answers a bad percent-encoding (400), a parameter over maxParamLength (414) and requests
    // Node's HTTP parser refuses (400, 431 headers too large, 408) with its own uncoded JSON bodies.
    frameworkErrors: (error, request, reply) => {
      sendError(error, request, reply);
    },
    clientErrorHandler,
  });

  // Security headers on every answer (Helmet's, computed once).
  registerSecurityHeaders(server);

  // The API speaks JSON only; a text body is a client mistake worth a clear 415, not a confusing 400.
  server.removeContentTypeParser('text/plain');
  await server.register(websocket, {
    options: {
      maxPayload: WS_MAX_PAYLOAD_BYTES,
      // A browser offering `rivulet.v1, rivulet.bearer.<token>` gets `rivulet.v1` back; offering protocols and
      // getting none back would make it fail the connection.
      handleProtocols: (protocols) => (protocols.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
    },
    // A peer breaking the WebSocket protocol (a message over maxPayload, invalid UTF-8, reserved bits or opcodes:
    // ws's WS_ERR_* errors) or resetting the connection is the client's mistake, not ours: ws has already sent the
    // close code (1009, 1007, 1002), so log it as a refusal and let ws finish the close. The plugin's default logged
    // every one at error level and terminated the socket at once, which can drop that close frame.
    errorHandler: (error, socket, request) => {
      const code = (error as { code?: unknown }).code;
      const protocolError =
        typeof code === 'string' && (code.startsWith('WS_ERR_') || code === 'ECONNRESET' || code === 'EPIPE');
      if (protocolError) {
        request.log.info({ code, detail: error.message }, 'websocket closed for a protocol error');
        return;
      }
      request.log.error({ err: error }, 'websocket handler failed');
      socket.terminate();
    },
  });

  server.setErrorHandler(sendError);

  server.setNotFoundHandler((_request, reply) => {
    return reply
      .code(404)
      .send({ error: { code: 'NOT_FOUND', message: `${ERROR_CODES.NOT_FOUND.message}` } });
  });

  const origins = originPolicy(
    context.config.web.corsOrigins,
    context.config.auth.mode,
    context.stores.chatbots,
  );
  await registerWebRoutes(server, context, origins);
  registerAccess(server, context.config, context.authenticator, origins, context.requestLimits);
  registerHealthRoutes(server, context);
  registerMetricsRoutes(server, context);
  registerStatsRoutes(server, context);
  registerDiagnosisRoutes(server, context);
  registerChatRoutes(server, context);
  registerUiChatRoutes(server, context);
  registerRunRoutes(server, context);
  registerWsRoutes(server, context);
  registerConversationRoutes(server, context);
  registerRoomRoutes(server, context);
  registerPassageRoutes(server, context);
  registerAdminRoutes(server, context);
  await registerDocumentRoutes(server, context);
  // The OpenAI-compatible API refuses in OpenAI's error shape, so OpenAI clients raise their own error classes.
  await server.register((scope, _options, done) => {
    scope.setErrorHandler(errorSender((coded, message) => openAiErrorBody(coded, message)));
    registerOpenAiRoutes(scope, context);
    done();
  });
  return server;
}

/**
 * Fastify's own hop count trusts nothing (it cannot vet the peer), so hops are a function: the nearest `hops`
 * addresses of the chain (the socket's first) are proxies, whatever they are.
 */
function trustProxyOption(trust: TrustProxy): FastifyServerOptions['trustProxy'] {
  if (typeof trust !== 'number') return trust;
  if (trust === 0) return false;
  return (_address: string, hop: number) => hop < trust;
}

type ErrorHandler = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => FastifyReply;

/** Our coded JSON errors: `{error: {code, message}}`. */
const sendError = errorSender((coded, message) => ({ error: { code: coded.code, message } }));

/**
 * An error handler that logs, masks INTERNAL details and sets the status from the registry, with the body in a
 * shape of the caller's choosing (ours, or OpenAI's under /v1).
 */
export function errorSender(body: (coded: RivuletError, message: string) => unknown): ErrorHandler {
  return (error, request, reply) => {
    const coded = toCodedError(error);
    if (coded.code === 'INTERNAL') {
      request.log.error({ err: error }, 'unhandled error');
    } else {
      request.log.info({ code: coded.code, detail: coded.detail }, 'request refused');
    }
    const message =
      coded.code === 'INTERNAL'
        ? `${coded.message} Quote request id ${request.id} when reporting it.`
        : coded.message;
    if (coded.retryAfterMs !== undefined) reply.header('retry-after', Math.ceil(coded.retryAfterMs / 1000));
    return reply.code(coded.status).header('x-request-id', request.id).send(body(coded, message));
  };
}

const CLIENT_ERROR_MESSAGES: Record<string, string> = {
  HPE_HEADER_OVERFLOW: 'The request line or headers are too large.',
  ERR_HTTP_REQUEST_TIMEOUT: 'The request took too long to arrive.',
};

/**
 * A request Node's HTTP parser refused (malformed request line or header, headers over the 16 KB limit, too slow to
 * arrive) never becomes a Fastify request: answer it on the socket with a coded 400 (the registry has no 431 or 408
 * code) and close, as Fastify's default handler does with an uncoded body.
 */
function clientErrorHandler(this: FastifyInstance, error: ConnectionError, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const requestId = `req_${crypto.randomUUID()}`;
  const coded = new RivuletError('BAD_REQUEST', {
    ...(CLIENT_ERROR_MESSAGES[error.code] === undefined
      ? {}
      : { message: CLIENT_ERROR_MESSAGES[error.code] }),
  });
  this.log.info({ code: coded.code, detail: error.code, requestId }, 'request refused by the HTTP parser');
  const body = JSON.stringify(coded.toJSON());
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${coded.status} Bad Request\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

function toCodedError(error: FastifyError): RivuletError {
  if (error instanceof RivuletError) return error;
  const mapped = error.code === undefined ? undefined : FASTIFY_CODES[error.code];
  if (mapped !== undefined) return new RivuletError(mapped, { detail: error.message });
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return new RivuletError('BAD_REQUEST', { detail: error.message });
  }
  return new RivuletError('INTERNAL', { detail: error.message, cause: error });
}
