// The extractive answerer on real passages (the bundled guide): it quotes the sentence or list item that answers the
// question, scored with the lexical index's analyzer (stems, stopwords) and weighted to rarer terms, and keeps list
// items as list items, those of Markdown and those of JSON records alike.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Passage } from '../core/retriever.ts';
import { loadDocument } from '../retrieval/loaders.ts';
import { bestSentences, extractiveAnswer } from './extractive.ts';

const GUIDE = new URL('../../samples/rivulet-guide/', import.meta.url);

/** The text of one "## heading" section of a guide page, as the chunker would keep it (one chunk each here). */
function section(file: string, heading: string): string {
  const page = readFileSync(new URL(file, GUIDE), 'utf8');
  const start = page.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`no section "${heading}" in ${file}`);
  const body = page.slice(start + heading.length + 5);
  const end = body.indexOf('\n## ');
  return (end < 0 ? body : body.slice(0, end)).trim();
}

function passage(title: string, text: string): Passage {
  return {
    chunkId: title,
    documentId: `doc-${title}`,
    documentTitle: title,
    source: `${title}.md`,
    heading: '',
    text,
    contentHash: 'h',
    score: 1,
  };
}

const ERROR_CODES = section('troubleshooting.md', 'Error codes you are likely to see');
const ANSWER_CACHE = section('documents-and-retrieval.md', 'The answer cache');
const RESUMING = section('streaming-and-resume.md', 'Resuming after a dropped connection');

describe('bestSentences on the guide', () => {
  it('quotes the one list item that names the code, not three blobs of flattened items', () => {
    // Before: the list was flattened into "sentences" such as "Retryable; configure `LLM_FALLBACK` to fail over. -
    // `UPSTREAM_TIMEOUT` and `UPSTREAM_STALLED`: ... - `RUN_NOT_FOUND`: ... - `INTERNAL`: a bug.", three of them.
    expect(bestSentences(ERROR_CODES, 'What does UPSTREAM_STALLED mean?')).toEqual([
      '- `UPSTREAM_TIMEOUT` and `UPSTREAM_STALLED`: nothing arrived for `LLM_STALL_MS`, before or during the answer.',
    ]);
    expect(bestSentences(ERROR_CODES, 'What is RUN_LOG_LIMIT?')).toEqual([
      '- `RUN_TIMEOUT` and `RUN_LOG_LIMIT`: the run hit `RUN_MAX_DURATION_MS`, `RUN_MAX_EVENTS` or `RUN_MAX_BYTES`.',
    ]);
    // An item's wrapped second line belongs to it.
    expect(bestSentences(ERROR_CODES, 'Which request id does an INTERNAL error quote?')).toContain(
      '- `INTERNAL`: a bug. The message quotes a request id (also in the `X-Request-Id` header) to look up in the log.',
    );
  });

  it('finds the answer through stems ("resumed runs", "deleted" / "is deleted"), without padding', () => {
    // Before: the first sentences sharing any word ("Answers are cached per chatbot.", "A cached answer streams like
    // any other ...") came first, the answer third.
    expect(bestSentences(ANSWER_CACHE, 'Is a cached answer dropped when its document is deleted?')).toEqual([
      'An entry is dropped as soon as any document it cited changes or is deleted, so a cached answer never rests on old text.',
    ]);
    // "resumed runs" / "A run can be resumed": before, the Reconnect sentence was quoted too.
    expect(bestSentences(RESUMING, 'When do resumed runs expire?')).toEqual([
      'A run can be resumed for `RUN_RETENTION_MS` (300000 ms) after it finished; after that, or for an unknown run, the answer is 404 `RUN_NOT_FOUND`.',
    ]);
  });

  it('prefers the sentence with the rare term over those repeating the topic word', () => {
    const text =
      'Refunds are handled by our support team. Refunds are paid to the original card. Refunds for gift cards are ' +
      'not possible. Refunds of orders paid by invoice go to the bank account named on the invoice.';
    // "refund" is in every sentence, so it does not pad the quote with them; "invoice" is in one.
    expect(bestSentences(text, 'Where do refunds of invoice orders go?')).toEqual([
      'Refunds of orders paid by invoice go to the bank account named on the invoice.',
    ]);
  });

  it('does not split a sentence inside inline code, and skips headings and code blocks', () => {
    expect(bestSentences(RESUMING, 'Where does the last event id go?', 1)).toEqual([
      'Reconnect with `GET /api/runs/<runId>/events` and the last id you received, either in the `Last-Event-ID` header (what `EventSource` sends by itself) or as `?lastEventId=`.',
    ]);
    const frames = section('streaming-and-resume.md', 'SSE frames and event ids');
    expect(bestSentences(frames, 'What does a token frame look like?').join(' ')).not.toContain('data: {');
  });
});

describe('extractiveAnswer', () => {
  it('quotes list items as a Markdown list inside the quote, with the citation at the end', () => {
    const answer = extractiveAnswer(
      'Which codes mean a provider failed, and what does UPSTREAM_STALLED mean?',
      [passage('Troubleshooting', ERROR_CODES)],
    );
    expect(answer).toContain(
      '**[1] Troubleshooting**\n\n> - `UPSTREAM_AUTH_FAILED`: the provider answered 401 or 403. The API key is wrong.\n> - `UPSTREAM_RATE_LIMITED`, `UPSTREAM_UNAVAILABLE`, `UPSTREAM_DROPPED`: the provider answered 429, could not be reached or failed, or the connection broke. Retryable; configure `LLM_FALLBACK` to fail over.\n> - `UPSTREAM_TIMEOUT` and `UPSTREAM_STALLED`: nothing arrived for `LLM_STALL_MS`, before or during the answer. [1]',
    );
  });

  it('keeps the steps of a JSON FAQ record as a list, under the record’s question', async () => {
    const faq = [
      {
        question: 'How do I reset my password?',
        answer: [
          'Open the settings page from the menu in the top right corner.',
          'Choose Security, then press the reset button.',
          'Follow the link in the e-mail we send you within ten minutes.',
        ],
        tags: ['account', 'login'],
      },
    ];
    const document = await loadDocument(new TextEncoder().encode(JSON.stringify(faq)), 'faq.json');
    const [record] = document.sections;
    expect(record?.heading).toEqual(['How do I reset my password?']);
    const text = record?.text ?? '';
    expect(text).toBe(faq[0]!.answer.map((step) => `- ${step}`).join('\n'));
    expect(record?.metadata).toMatchObject({ tags: ['account', 'login'] });
    const answer = extractiveAnswer('After I press the reset button, how long is the e-mail link valid?', [
      // A record of a JSON file is titled by its own question.
      { ...passage('faq', text), source: 'faq.json', heading: 'How do I reset my password?' },
    ]);
    expect(answer).toContain(
      '**[1] How do I reset my password?**\n\n> - Choose Security, then press the reset button.\n> - Follow the link in the e-mail we send you within ten minutes. [1]',
    );
  });

  it('sets unrelated blocks of one passage apart with an empty quote line', () => {
    const answer = extractiveAnswer('What does the stop reply say, and is the stopped text stored?', [
      passage('Stopping', section('streaming-and-resume.md', 'Stopping an answer')),
    ]);
    expect(answer).toMatch(/\n> .*stored as a stopped message\. The reply is .* \[1\]\n/u);
  });
});
