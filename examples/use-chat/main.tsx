// Mounts the chat: its id comes from the address (?chat=...), so a reload reopens the same chat and resumes its answer.

import { createRoot } from 'react-dom/client';
import { Chat } from './chat.tsx';

const url = new URL(window.location.href);
let chatId = url.searchParams.get('chat');
if (chatId === null) {
  chatId = `chat-${crypto.randomUUID()}`;
  url.searchParams.set('chat', chatId);
  window.history.replaceState(null, '', url);
}
const root = document.getElementById('root');
if (root !== null) createRoot(root).render(<Chat chatId={chatId} />);
