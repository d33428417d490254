// Splits a finished text into stream-sized pieces (cache replays, the extractive answerer), at word boundaries.

/** Pieces of at most about `size` characters; concatenated they give back `text` exactly. */
export function splitForStreaming(text: string, size = 32): string[] {
  const pieces: string[] = [];
  let current = '';
  // Words with the whitespace after them, so joining the pieces restores the text byte for byte.
  for (const word of text.match(/\S+\s*|\s+/gu) ?? []) {
    if (current !== '' && current.length + word.length > size) {
      pieces.push(current);
      current = '';
    }
    current += word;
  }
  if (current !== '') pieces.push(current);
  return pieces;
}
