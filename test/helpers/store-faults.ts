// Store faults for integration tests: writes that succeed although the store reports an error.

import { vi, type MockInstance } from 'vitest';
import type { ConversationStore } from '../../src/core/conversation-store.ts';
import { RivuletError } from '../../src/core/errors.ts';

/**
 * Makes the store's next createConversation store the conversation, then reject with STORE_UNAVAILABLE, as PostgreSQL
 * does when the connection is lost after the commit, before its reply. Returns the spy (mockRestore it).
 */
export function createStoredThenFails(
  conversations: ConversationStore,
): MockInstance<ConversationStore['createConversation']> {
  const create = conversations.createConversation.bind(conversations);
  return vi.spyOn(conversations, 'createConversation').mockImplementationOnce(async (...args) => {
    await create(...args);
    throw new RivuletError('STORE_UNAVAILABLE');
  });
}
