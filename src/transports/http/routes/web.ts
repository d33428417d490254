// The browser side: the web app at `/` and the widget at `/widget.js` (built by web/build.ts into dist/web), the
// settings the app reads at start (GET /api/config), and CORS so the widget can call the API from other sites.

import cors from '@fastify/cors';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CHATBOT_ID } from '../../../core/chatbots.ts';
import { RivuletError } from '../../../core/errors.ts';
import type { AppContext } from '../context.ts';
import type { OriginPolicy } from '../origins.ts';

/** Where `npm run build:web` writes the app and the widget. */
export const WEB_DIST_DIR = fileURLToPath(new URL('../../../../dist/web/', import.meta.url));

/**
 * Questions the app offers before the first one while the default collection holds the bundled guide
 * (SAMPLE_CORPUS): each is answered by it.
 */
export const SAMPLE_STARTERS = [
  'How does a client resume an answer after its connection dropped?',
  'How do I add my own documents to the knowledge base?',
  'Do I need an API key or a language model to try Rivulet?',
  'How do I stop an answer that is still being generated?',
];
/** A document of the bundled guide (samples/rivulet-guide): its presence says the guide is still there. */
const SAMPLE_MARKER_SOURCE = 'faq.json';

export async function registerWebRoutes(
  server: FastifyInstance,
  context: AppContext,
  origins: OriginPolicy,
): Promise<void> {
  const { streaming } = context.config.web;
  const distDir = path.resolve(context.config.web.distDir ?? WEB_DIST_DIR);
  const allows = origins.cors;
  await server.register(cors, {
    // CORS_ORIGINS, plus every origin a public chatbot allows (its widget runs on those sites); on an open install
    // by default only pages served from this machine. The same rule guards state-changing requests (access.ts).
    origin:
      allows === '*'
        ? '*'
        : (origin, callback) => {
            if (origin === undefined) {
              callback(null, true);
              return;
            }
            allows(origin).then(
              (allowed) => callback(null, allowed),
              (error: unknown) => callback(error as Error, false),
            );
          },
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['content-type', 'accept', 'last-event-id', 'authorization', 'x-session-id'],
    // The run id lets a page resume an answer; the request id is what users quote in bug reports.
    exposedHeaders: ['x-run-id', 'x-request-id'],
    maxAge: 600,
  });

  server.get('/api/config', async () => {
    const chatbot = await context.stores.chatbots.getChatbot(DEFAULT_CHATBOT_ID);
    const guide =
      chatbot === undefined
        ? undefined
        : await context.stores.documents.findDocumentBySource(chatbot.collectionId, SAMPLE_MARKER_SOURCE);
    return {
      streaming,
      chatbotId: DEFAULT_CHATBOT_ID,
      title: 'Rivulet',
      // `required`: the app asks for an API key or a JWT; the widget talks to public chatbots with a session id.
      auth: context.config.auth.mode,
      // Example questions for the empty chat: the bundled guide's, while it is there.
      starters: guide === undefined ? [] : SAMPLE_STARTERS,
    };
  });

  if (!existsSync(path.join(distDir, 'index.html'))) {
    const notBuilt = (): never => {
      throw new RivuletError('WEB_APP_NOT_BUILT');
    };
    server.get('/', notBuilt);
    server.get('/widget.js', notBuilt);
    return;
  }
  await server.register(fastifyStatic, {
    root: distDir,
    index: ['index.html'],
    // The build's .br and .gz copies (web/precompress.ts) go to browsers that accept them, with Vary: Accept-Encoding:
    // compressed once at build time at the best ratio instead of on every request.
    preCompressed: true,
    // Source maps are for whoever debugs the page; they are served too, but nothing else outside dist/web is.
    setHeaders(response, filePath) {
      const servedFile = filePath.replace(/\.(?:br|gz)$/, '');
      const hashed = servedFile.includes('/assets/');
      response.header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
      if (servedFile.endsWith('widget.js')) response.header('cross-origin-resource-policy', 'cross-origin');
    },
  });
}
