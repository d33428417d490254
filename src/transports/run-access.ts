// The one rule for reaching a run by id: it must exist and belong to the caller, and both failures look alike.

import type { ConversationStore } from '../core/conversation-store.ts';
import { RivuletError } from '../core/errors.ts';
import type { RunHub, RunInfo } from '../core/run-hub.ts';

/**
 * Unknown and not-yours are the same RUN_NOT_FOUND, so run ids cannot be probed. For a resume, pass the conversation
 * store: a run the hub no longer knows whose stored answer was interrupted (the server was killed while it streamed)
 * is RUN_INTERRUPTED instead, for its owner only.
 */
export async function findOwnedRun(
  hub: RunHub,
  runId: string,
  principal: string | null,
  conversations?: ConversationStore,
): Promise<RunInfo> {
  const info = await hub.info(runId);
  if (info !== undefined && info.ownerId === principal) return info;
  if (
    info === undefined &&
    conversations !== undefined &&
    (await wasInterrupted(conversations, runId, principal))
  ) {
    throw new RivuletError('RUN_INTERRUPTED');
  }
  throw new RivuletError('RUN_NOT_FOUND');
}

async function wasInterrupted(
  conversations: ConversationStore,
  runId: string,
  principal: string | null,
): Promise<boolean> {
  const answer = await conversations.findMessageByRun(runId);
  if (answer?.status !== 'interrupted') return false;
  const conversation = await conversations.getConversation(answer.conversationId);
  return conversation !== undefined && conversation.ownerId === principal;
}
