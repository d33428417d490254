// What the model reads of a tool's result: text cut at a cap, with a marker saying how much was left out.

/** `text` cut to at most `maxChars` characters (marker included), never inside a surrogate pair. */
export function capResultText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const marker = (left: number) => `\n[truncated: ${left} more characters]`;
  let keep = Math.max(0, maxChars - marker(text.length).length);
  // A high surrogate at the cut would leave half a character: cut before it.
  const last = text.charCodeAt(keep - 1);
  if (keep > 0 && last >= 0xd800 && last <= 0xdbff) keep -= 1;
  return text.slice(0, keep) + marker(text.length - keep);
}
