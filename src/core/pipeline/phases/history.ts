// The history phase: the conversation so far, and the question and its answer (as streaming) stored in one write.

import { newMessageId } from '../../conversation-ids.ts';
import type { MessageMetadata, StoredMessage, Turn } from '../../conversation-store.ts';
import type { ChatMessage } from '../../provider.ts';
import type { PipelineContext } from '../context.ts';

/** Returns the earlier messages that go into the prompt; records when the answer was stored. */
export async function historyPhase(context: PipelineContext): Promise<ChatMessage[]> {
  const { run, input, deps, recorder } = context;
  recorder.beginPhase('history');
  const created = input.newConversation;
  if (created !== undefined) {
    // A conversation this request created has nothing to read, and was stored with the question and the answer.
    recorder.answerCreatedAt = created.createdAt;
    recorder.endPhase();
    return [];
  }
  const history = promptHistory(
    input.turns ?? (await deps.conversations.listTurns(input.conversationId, deps.historyLimit, run.signal)),
  );
  const createdAt = Date.now();
  await deps.conversations.appendMessages(
    questionAndAnswer({
      conversationId: input.conversationId,
      question: input.message,
      metadata: input.metadata,
      messageId: context.messageId,
      runId: run.runId,
      createdAt,
    }),
  );
  recorder.answerCreatedAt = createdAt;
  recorder.endPhase();
  return history;
}

/** A conversation's stored turns as the prompt's history: the turns that hold text of their own. */
export function promptHistory(turns: readonly Turn[]): ChatMessage[] {
  return (
    turns
      // Another answer of this conversation still streaming has only part of its text: it is not history yet.
      .filter((turn) => turn.content !== '' && turn.status !== 'streaming')
      .map((turn) => ({ role: turn.role, content: turn.content }))
  );
}

/**
 * The question, and the answer as streaming: stored in one write when an answer starts. The answer is checkpointed
 * while it streams: if the process dies (SIGKILL, a crash, power loss) the next start finds it and marks it
 * interrupted with its text.
 */
export function questionAndAnswer(answer: {
  conversationId: string;
  question: string;
  metadata: MessageMetadata | undefined;
  messageId: string;
  runId: string;
  createdAt: number;
}): StoredMessage[] {
  const { conversationId, createdAt } = answer;
  return [
    {
      id: newMessageId(),
      conversationId,
      role: 'user',
      content: answer.question,
      createdAt,
      ...(answer.metadata === undefined ? {} : { metadata: answer.metadata }),
    },
    {
      id: answer.messageId,
      conversationId,
      role: 'assistant',
      content: '',
      createdAt,
      status: 'streaming',
      runId: answer.runId,
    },
  ];
}
