// The highlight of a citation preview: the source's sentence that the cited statement rests on.
import { describe, expect, it } from 'vitest';
import { markCited, sentences, statementBefore } from './cite-match.ts';

describe('markCited', () => {
  const snippet =
    'Rivulet keeps every run in a log. A client that reconnects sends Last-Event-ID and gets the events after it. ' +
    'Runs expire after RUN_GRACE_MS.';

  it('marks the sentence sharing the most words with the statement', () => {
    const marked = markCited(snippet, 'After a drop the client reconnects with Last-Event-ID');
    expect(marked.mark).toBe('A client that reconnects sends Last-Event-ID and gets the events after it.');
    expect(marked.before + marked.mark + marked.after).toBe(snippet);
  });

  it('marks nothing when no sentence shares a word', () => {
    expect(markCited(snippet, 'Completely unrelated words here')).toEqual({
      before: snippet,
      mark: '',
      after: '',
    });
  });

  it('gives the text back whole, whatever it is', () => {
    for (const text of [
      '',
      'No stop at all',
      '...',
      'a. b! c? d',
      'Ends with a stop.',
      'Ünïcode wörds. Zwei.',
    ]) {
      expect(sentences(text).join('')).toBe(text);
      const marked = markCited(text, 'wörds zwei stop');
      expect(marked.before + marked.mark + marked.after).toBe(text);
    }
  });
});

describe('statementBefore', () => {
  it('takes the sentence before the citation, without citations', () => {
    const text = 'Streams resume. The server replays every event [1] after the last one [2][3]';
    expect(statementBefore(text, text.length)).toBe('The server replays every event after the last one');
    expect(statementBefore(text, text.indexOf('[1]'))).toBe('The server replays every event');
  });
});
