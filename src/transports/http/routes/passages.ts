// GET /api/passages/:chunkId: one cited passage with its document's title and where it came from, for whoever may
// ask the chatbot that cited it (the web app opens it from a citation, with the cited sentence highlighted).

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DEFAULT_CHATBOT_ID } from '../../../core/chatbots.ts';
import { RivuletError } from '../../../core/errors.ts';
import { chatRefusal } from '../../../core/principal.ts';
import { passageTitle } from '../../../core/prompt.ts';
import { displaySource, displayTitle } from '../../../core/source-names.ts';
import { idSchema, parseWith } from '../../schemas.ts';
import { principalOf } from '../access.ts';
import type { AppContext } from '../context.ts';

const params = z.strictObject({ chunkId: idSchema });
const query = z.strictObject({ chatbotId: idSchema.optional() });

export function registerPassageRoutes(server: FastifyInstance, context: AppContext): void {
  const { documents, chatbots } = context.stores;

  server.get('/api/passages/:chunkId', async (request) => {
    const { chunkId } = parseWith(params, request.params, 'path');
    const { chatbotId } = parseWith(query, request.query, 'query');
    // The same rule as asking the chatbot: what it may cite to you, you may read.
    const chatbot = await chatbots.getChatbot(chatbotId ?? DEFAULT_CHATBOT_ID);
    const refusal = chatbot === undefined ? 'not-found' : chatRefusal(principalOf(request), chatbot);
    if (refusal === 'not-found' || chatbot === undefined) throw new RivuletError('CHATBOT_NOT_FOUND');
    if (refusal === 'origin') throw new RivuletError('ORIGIN_NOT_ALLOWED');
    const [chunk] = await documents.getChunks([chunkId]);
    const document = chunk === undefined ? undefined : await documents.getDocument(chunk.documentId);
    // A passage of another collection is "not found", as if it did not exist.
    if (chunk === undefined || document === undefined || document.collectionId !== chatbot.collectionId) {
      throw new RivuletError('DOCUMENT_NOT_FOUND');
    }
    const uri = displaySource(document.source);
    return {
      document: {
        id: document.id,
        title: displayTitle(document.title, document.source),
        ...(uri === undefined ? {} : { uri }),
        mediaType: document.mediaType,
      },
      passage: {
        id: chunk.id,
        title: passageTitle({
          documentTitle: document.title,
          heading: chunk.heading,
          source: document.source,
        }),
        heading: chunk.heading,
        ordinal: chunk.ordinal,
        text: chunk.text,
      },
    };
  });
}
