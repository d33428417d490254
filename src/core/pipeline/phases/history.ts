// The history phase: the conversation so far, and the question and its answer (as streaming) stored in one write.

import { randomUUID } from 'node:crypto';
import type { ChatMessage } from '../../provider.ts';
import type { PipelineContext } from '../context.ts';

/** Returns the earlier messages that go into the prompt; records when the answer was stored. */
export async function historyPhase(context: PipelineContext): Promise<ChatMessage[]> {
  const { run, input, deps, recorder } = context;
  recorder.beginPhase('history');
  // A conversation this request created has nothing to read yet.
  const stored =
    input.newConversation === true
      ? []
      : await deps.conversations.listMessages(input.conversationId, deps.historyLimit, run.signal);
  const history: ChatMessage[] = stored
    // Another answer of this conversation still streaming has only part of its text: it is not history yet.
    .filter((message) => message.content !== '' && message.status !== 'streaming')
    .map((message) => ({ role: message.role, content: message.content }));
  // The question, and the answer as streaming, in one write. The answer is checkpointed while it streams: if the
  // process dies (SIGKILL, a crash, power loss) the next start finds it and marks it interrupted with its text.
  const createdAt = Date.now();
  await deps.conversations.appendMessages([
    {
      id: `msg_${randomUUID()}`,
      conversationId: input.conversationId,
      role: 'user',
      content: input.message,
      createdAt,
      ...(input.metadata === undefined ? {} : { metadata: input.metadata }),
    },
    {
      id: context.messageId,
      conversationId: input.conversationId,
      role: 'assistant',
      content: '',
      createdAt,
      status: 'streaming',
      runId: run.runId,
    },
  ]);
  recorder.answerCreatedAt = createdAt;
  recorder.endPhase();
  return history;
}
