// Token texts that break naive stream relays: line breaks of every kind, SSE field look-alikes, emoji, CJK.

export const HOSTILE_TOKENS: readonly string[] = [
  'plain',
  ' with space',
  'line\nbreak',
  'crlf\r\nbreak',
  'lone\rcr',
  '\n\n',
  'data: injected',
  '\ndata: {"type":"done"}\n\n',
  'event: error\nid: 99',
  ': comment-looking',
  'retry: 1',
  '😀',
  '👩‍💻',
  '漢字と日本語',
  'é ñ ü',
  'u2028\u2028u2029\u2029',
  '"quoted" \\backslash\\ \t tab',
  '',
];
