// A streaming parser for text/event-stream (WHATWG HTML, "Parsing an event stream"): bytes in, frames out.
// Zero dependencies so the client SDK stays one small file in browsers and Node alike.

export interface SseFrame {
  /** `event:` field; "message" when absent. */
  event: string;
  data: string;
  /** `id:` field of this frame, if it had one. */
  id: string | undefined;
}

export interface SseParser {
  /** Feeds decoded text; returns the frames it completed. */
  push(chunk: string): SseFrame[];
  /** The last `retry:` hint in milliseconds, if the server sent one. */
  readonly retryMs: number | undefined;
}

export function createSseParser(): SseParser {
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  let retryMs: number | undefined;
  // A chunk may end between "\r" and "\n"; the "\n" that follows then closes nothing.
  let skipLeadingLf = false;

  const line = (text: string, frames: SseFrame[]): void => {
    if (text === '') {
      if (data.length > 0)
        frames.push({ event: event === '' ? 'message' : event, data: data.join('\n'), id });
      event = '';
      data = [];
      id = undefined;
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id' && !value.includes('\0')) id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Number(value);
  };

  return {
    get retryMs() {
      return retryMs;
    },
    push(chunk) {
      const frames: SseFrame[] = [];
      // An empty chunk (a decoder holding back half a character, an empty read) changes nothing. Without this it
      // cleared the pending "\r" below, so the "\n" of a CRLF split around it read as a blank line, ending the frame.
      if (chunk === '') return frames;
      buffer += chunk;
      let start = 0;
      if (skipLeadingLf && buffer.startsWith('\n')) start = 1;
      skipLeadingLf = false;
      for (let i = start; i < buffer.length; i++) {
        const char = buffer.charCodeAt(i);
        if (char !== 10 && char !== 13) continue;
        line(buffer.slice(start, i), frames);
        if (char === 13) {
          if (i + 1 === buffer.length) skipLeadingLf = true;
          else if (buffer.charCodeAt(i + 1) === 10) i++;
        }
        start = i + 1;
      }
      buffer = buffer.slice(start);
      return frames;
    },
  };
}
