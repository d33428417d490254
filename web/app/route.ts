// The app's routes, kept in the address's hash so the server serves one page: a view per route. A new view (rooms,
// say) adds its case here and its element in main.tsx.

export type Route =
  | { view: 'chat'; conversationId: string | null }
  | { view: 'documents' }
  | { view: 'dashboard' }
  | { view: 'source'; chunkId: string; chatbotId: string; mark: string }
  | { view: 'rooms'; roomId: string | null };

export function parseRoute(hash: string): Route {
  if (hash.startsWith('#/documents')) return { view: 'documents' };
  if (hash.startsWith('#/dashboard')) return { view: 'dashboard' };
  const room = /^#\/rooms(?:\/([\w.-]+))?/.exec(hash);
  if (room !== null) return { view: 'rooms', roomId: room[1] ?? null };
  const source = /^#\/source\/([\w.-]+)(?:\?(.*))?$/.exec(hash);
  if (source !== null) {
    const query = new URLSearchParams(source[2] ?? '');
    return {
      view: 'source',
      chunkId: source[1] ?? '',
      chatbotId: query.get('chatbot') ?? 'default',
      mark: query.get('mark') ?? '',
    };
  }
  const match = /^#\/c\/([\w.-]+)/.exec(hash);
  return { view: 'chat', conversationId: match?.[1] ?? null };
}

/** The address of a cited passage, with the sentence to highlight (cut: an address has its limits). */
export function sourceRoute(chunkId: string, chatbotId: string, mark: string): string {
  const query = new URLSearchParams({ chatbot: chatbotId });
  if (mark !== '') query.set('mark', mark.slice(0, 400));
  return `#/source/${encodeURIComponent(chunkId)}?${query.toString()}`;
}
