import { useChat } from '@ai-sdk/react';
import { DefaultChatTransport } from 'ai';
import { useState } from 'react';

export function Chat({ chatId }: { chatId: string }) {
  const { messages, sendMessage, status, stop } = useChat({
    id: chatId, // your Rivulet conversation: created on the first message
    resume: true, // after a reload, the answer being written is replayed from its start
    transport: new DefaultChatTransport({ api: '/api/chat/ui' }),
  });
  const [input, setInput] = useState('');

  // useChat's stop() only drops the connection (a resume must survive that); this stops the answer on the server.
  const stopAnswer = async () => {
    await fetch(`/api/chat/ui/${encodeURIComponent(chatId)}/stop`, { method: 'POST' });
    await stop();
  };

  return (
    <main data-status={status}>
      {messages.map((message) => (
        <article key={message.id} className={message.role}>
          <p className="text">
            {message.parts.map((part) => (part.type === 'text' ? part.text : '')).join('')}
          </p>
          <ol className="sources">
            {message.parts.map((part) =>
              part.type === 'source-document' ? (
                <li key={part.sourceId}>
                  [{part.sourceId}] {part.title}
                </li>
              ) : null,
            )}
          </ol>
        </article>
      ))}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void sendMessage({ text: input });
          setInput('');
        }}
      >
        <input aria-label="Question" value={input} onChange={(event) => setInput(event.target.value)} />
        <button type="submit" disabled={status !== 'ready'}>
          Ask
        </button>
        <button type="button" onClick={() => void stopAnswer()} disabled={status !== 'streaming'}>
          Stop
        </button>
      </form>
    </main>
  );
}
