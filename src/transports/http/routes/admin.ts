// The admin API: chatbots (GET, POST, PATCH, DELETE /api/chatbots) and API keys (GET, POST, DELETE /api/keys).
// Members of an organisation may read its chatbots; its admins manage them and its keys. Admins of no organisation
// (and the local user of an open install) manage everything.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  applySettings,
  DEFAULT_CHATBOT_ID,
  newChatbot,
  withSecretsMasked,
  type Chatbot,
} from '../../../core/chatbots.ts';
import { RivuletError } from '../../../core/errors.ts';
import { canManage, inOrganisation, type Principal } from '../../../core/principal.ts';
import {
  chatbotSettingsSchema,
  idSchema,
  newApiKeySchema,
  newChatbotSchema,
  parseWith,
} from '../../schemas.ts';
import { principalOf, requireAdmin } from '../access.ts';
import type { AppContext } from '../context.ts';

const chatbotParams = z.strictObject({ chatbotId: idSchema });
const keyParams = z.strictObject({ keyId: idSchema });

/** The organisation something new belongs to: an organisation's admin can only create for their own. */
function ownOrg(principal: Principal, requested: string | null | undefined): string | null {
  if (principal.orgId !== null) {
    if (requested !== undefined && requested !== principal.orgId) {
      throw new RivuletError('FORBIDDEN', {
        message: `You administer organisation "${principal.orgId}" only.`,
      });
    }
    return principal.orgId;
  }
  return requested ?? null;
}

export function registerAdminRoutes(server: FastifyInstance, context: AppContext): void {
  const { chatbots, apiKeys } = context.stores;

  const signedIn = (principal: Principal): Principal => {
    if (principal.kind === 'anonymous') throw new RivuletError('UNAUTHORIZED');
    return principal;
  };

  async function visibleChatbot(principal: Principal, chatbotId: string): Promise<Chatbot> {
    const chatbot = await chatbots.getChatbot(chatbotId);
    if (chatbot === undefined || !inOrganisation(principal, chatbot))
      throw new RivuletError('CHATBOT_NOT_FOUND');
    return chatbot;
  }

  // Who the app is signed in as: it shows the admin views (documents, dashboard) only to admins.
  server.get('/api/me', (request) => {
    const { id, kind, orgId, admin } = principalOf(request);
    return { id, kind, orgId, admin };
  });

  /**
   * A collection holds documents, and belongs to the organisation whose chatbot (or upload) first used it, for good:
   * an organisation's admin may point a chatbot only at a new collection or one of their organisation's. Otherwise
   * they could read and delete another organisation's documents, even ones a deleted chatbot left behind. The
   * refusal reads the same whoever owns it, so it does not tell whether another organisation has such a collection.
   */
  async function assertCollectionUsable(principal: Principal, collectionId: string): Promise<void> {
    if (principal.orgId === null) return;
    const owner = await chatbots.collectionOwner(collectionId);
    if (owner === undefined || owner.orgId === principal.orgId) return;
    throw new RivuletError('FORBIDDEN', {
      message: `Collection "${collectionId}" cannot be used by your chatbots: choose another name.`,
    });
  }

  /** The chatbot in the path, for an admin who may manage it (404 when not visible, 403 when only visible). */
  async function managedChatbot(
    request: FastifyRequest,
  ): Promise<{ principal: Principal; chatbot: Chatbot }> {
    const principal = principalOf(request);
    requireAdmin(principal);
    const { chatbotId } = parseWith(chatbotParams, request.params, 'path');
    const chatbot = await visibleChatbot(principal, chatbotId);
    if (!canManage(principal, chatbot)) throw new RivuletError('FORBIDDEN');
    return { principal, chatbot };
  }

  /**
   * MCP servers run commands on this machine (stdio) and make requests from it (http): only admins of no
   * organisation (the instance's operators) configure them; an organisation's admin gets FORBIDDEN.
   */
  function assertMayConfigureMcp(principal: Principal, mcpServers: readonly unknown[] | undefined): void {
    if (mcpServers === undefined || mcpServers.length === 0 || principal.orgId === null) return;
    throw new RivuletError('FORBIDDEN', {
      message: 'Only admins of no organisation may configure MCP servers (they run commands on the server).',
    });
  }

  server.get('/api/chatbots', async (request) => {
    const principal = signedIn(principalOf(request));
    const list = await chatbots.listChatbots();
    return { chatbots: list.filter((chatbot) => inOrganisation(principal, chatbot)).map(withSecretsMasked) };
  });

  server.get('/api/chatbots/:chatbotId', async (request) => {
    const principal = signedIn(principalOf(request));
    return withSecretsMasked(
      await visibleChatbot(principal, parseWith(chatbotParams, request.params, 'path').chatbotId),
    );
  });

  server.post('/api/chatbots', async (request, reply) => {
    const principal = principalOf(request);
    requireAdmin(principal);
    const body = parseWith(newChatbotSchema, request.body);
    if ((await chatbots.getChatbot(body.id)) !== undefined) throw new RivuletError('CHATBOT_EXISTS');
    const { id, ...settings } = body;
    assertMayConfigureMcp(principal, settings.tools?.mcpServers);
    const chatbot = applySettings(newChatbot(id), {
      ...settings,
      orgId: ownOrg(principal, settings.orgId),
    });
    await assertCollectionUsable(principal, chatbot.collectionId);
    return reply.code(201).send(withSecretsMasked(await chatbots.putChatbot(chatbot)));
  });

  server.patch('/api/chatbots/:chatbotId', async (request) => {
    const { principal, chatbot: existing } = await managedChatbot(request);
    const settings = parseWith(chatbotSettingsSchema, request.body);
    assertMayConfigureMcp(principal, settings.tools?.mcpServers);
    if (settings.orgId !== undefined) settings.orgId = ownOrg(principal, settings.orgId);
    if (settings.collectionId !== undefined) {
      await assertCollectionUsable(principal, settings.collectionId);
    }
    return withSecretsMasked(await chatbots.putChatbot(applySettings(existing, settings)));
  });

  server.delete('/api/chatbots/:chatbotId', async (request, reply) => {
    const { chatbot: existing } = await managedChatbot(request);
    if (existing.id === DEFAULT_CHATBOT_ID) {
      throw new RivuletError('VALIDATION_FAILED', {
        message: 'The default chatbot cannot be deleted; edit it.',
      });
    }
    await chatbots.deleteChatbot(existing.id);
    return reply.code(204).send();
  });

  server.get('/api/keys', async (request) => {
    const principal = principalOf(request);
    requireAdmin(principal);
    const keys = await apiKeys.listApiKeys(principal.orgId === null ? {} : { orgId: principal.orgId });
    return { keys };
  });

  server.post('/api/keys', async (request, reply) => {
    const principal = principalOf(request);
    requireAdmin(principal);
    const body = parseWith(newApiKeySchema, request.body);
    const created = await apiKeys.createApiKey({
      name: body.name,
      orgId: ownOrg(principal, body.orgId),
      admin: body.admin ?? false,
    });
    request.log.info(
      { keyId: created.key.id, orgId: created.key.orgId, admin: created.key.admin },
      'API key created',
    );
    // The only time the whole key is shown: it is not stored.
    return reply
      .code(201)
      .header('cache-control', 'no-store')
      .send({ key: created.key, token: created.token });
  });

  server.delete('/api/keys/:keyId', async (request, reply) => {
    const principal = principalOf(request);
    requireAdmin(principal);
    const { keyId } = parseWith(keyParams, request.params, 'path');
    const key = await apiKeys.getApiKey(keyId);
    if (
      key === undefined ||
      key.revokedAt !== null ||
      (principal.orgId !== null && key.orgId !== principal.orgId)
    ) {
      throw new RivuletError('API_KEY_NOT_FOUND');
    }
    await apiKeys.revokeApiKey(key.id);
    request.log.info({ keyId: key.id }, 'API key revoked');
    return reply.code(204).send();
  });
}
