// Builds the Fastify server: routes, body limits, and the error handler that turns everything into coded JSON.

import helmet from '@fastify/helmet';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { ERROR_CODES, RivuletError, type ErrorCode } from '../../core/errors.ts';
import { WS_PROTOCOL } from '../auth.ts';
import { registerAccess } from './access.ts';
import type { AppContext } from './context.ts';
import { registerAdminRoutes } from './routes/admin.ts';
import { registerChatRoutes } from './routes/chat.ts';
import { registerConversationRoutes } from './routes/conversations.ts';
import { registerDocumentRoutes } from './routes/documents.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerMetricsRoutes } from './routes/metrics.ts';
import { registerStatsRoutes } from './routes/stats.ts';
import { registerRunRoutes } from './routes/runs.ts';
import { registerWebRoutes } from './routes/web.ts';
import { registerWsRoutes } from './routes/ws.ts';

/** WebSocket messages are small JSON commands; anything larger is closed with 1009 by ws. */
const WS_MAX_PAYLOAD_BYTES = 256 * 1024;

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_VALIDATION: 'VALIDATION_FAILED',
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
    return503OnClosing: true,
    // Long ids reach our schemas and get a coded 400 instead of the router's uncoded 414.
    routerOptions: { maxParamLength: 8192 },
  });

  // Security headers on every answer; the app's page may load only its own scripts and talk only to its server.
  await server.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        // Preact sets style attributes (chart colours, the widget's accent).
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
      },
    },
    // The API is called from other sites (the widget) with CORS; CORP only governs no-cors loads.
    crossOriginResourcePolicy: { policy: 'same-site' },
  });

  // The API speaks JSON only; a text body is a client mistake worth a clear 415, not a confusing 400.
  server.removeContentTypeParser('text/plain');
  await server.register(websocket, {
    options: {
      maxPayload: WS_MAX_PAYLOAD_BYTES,
      // A browser offering `rivulet.v1, rivulet.bearer.<token>` gets `rivulet.v1` back; offering protocols and
      // getting none back would make it fail the connection.
      handleProtocols: (protocols) => (protocols.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
    },
  });

  server.setErrorHandler((error: FastifyError, request, reply) => {
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
    return reply
      .code(coded.status)
      .header('x-request-id', request.id)
      .send({ error: { code: coded.code, message } });
  });

  server.setNotFoundHandler((_request, reply) => {
    return reply
      .code(404)
      .send({ error: { code: 'NOT_FOUND', message: `${ERROR_CODES.NOT_FOUND.message}` } });
  });

  await registerWebRoutes(server, context);
  await registerAccess(server, context.config, context.authenticator);
  registerHealthRoutes(server, context);
  registerMetricsRoutes(server, context);
  registerStatsRoutes(server, context);
  registerChatRoutes(server, context);
  registerRunRoutes(server, context);
  registerWsRoutes(server, context);
  registerConversationRoutes(server, context);
  registerAdminRoutes(server, context);
  await registerDocumentRoutes(server, context);
  return server;
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
