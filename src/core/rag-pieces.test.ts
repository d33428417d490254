import fc from 'fast-check';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { normalizeQuestion } from './answer-cache.ts';
import { conversationTitle } from './conversation-store.ts';
import { matchGlossary } from './glossary.ts';
import {
  buildGroundedMessages,
  collapseWhitespace,
  GROUNDING_INSTRUCTIONS,
  passageTitle,
  toSources,
} from './prompt.ts';
import type { Passage } from './retriever.ts';
import { splitForStreaming } from './text-pieces.ts';

function passage(overrides: Partial<Passage> = {}): Passage {
  return {
    chunkId: 'chk_1',
    documentId: 'doc_1',
    documentTitle: 'Guide',
    source: 'guide.md',
    heading: 'Install > Linux',
    text: 'Run the installer.',
    contentHash: 'h',
    score: 0.123456,
    ...overrides,
  };
}

describe('normalizeQuestion', () => {
  it('equates case, spacing, width and trailing punctuation', () => {
    expect(normalizeQuestion('  What is  SLA? ')).toBe('what is sla');
    expect(normalizeQuestion('ＷＨＡＴ is sla！')).toBe('what is sla');
    expect(normalizeQuestion('What is SLA?!...')).toBe(normalizeQuestion('what is sla'));
    expect(normalizeQuestion('What is SLA 2?')).not.toBe(normalizeQuestion('What is SLA 3?'));
  });
});

describe('conversationTitle', () => {
  it('keeps short questions and cuts long ones at a word', () => {
    expect(conversationTitle('How do I\nreset it?')).toBe('How do I reset it?');
    const title = conversationTitle('word '.repeat(40));
    expect(title.length).toBeLessThanOrEqual(80);
    expect(title.endsWith('word…')).toBe(true);
  });
});

describe('matchGlossary', () => {
  const glossary = [
    { term: 'SLA', definition: 'Service level agreement', synonyms: ['uptime promise'] },
    { term: 'RMA', definition: 'Return authorisation' },
  ];

  it('matches whole words only, by term or synonym, and expands with what the question did not say', () => {
    expect(matchGlossary('What is the SLA?', glossary)).toEqual({
      terms: [glossary[0]],
      expansion: ['uptime promise'],
    });
    expect(matchGlossary('Tell me about the Uptime Promise', glossary).expansion).toEqual(['SLA']);
    expect(matchGlossary('A slate roof', glossary).terms).toEqual([]);
    expect(matchGlossary('rma and sla', glossary).terms.map((term) => term.term)).toEqual(['SLA', 'RMA']);
  });

  it('treats regex characters in terms literally', () => {
    expect(
      matchGlossary('Is C++ supported?', [{ term: 'C++', definition: 'a language' }]).terms,
    ).toHaveLength(1);
    expect(matchGlossary('Is C supported?', [{ term: 'C++', definition: 'a language' }]).terms).toHaveLength(
      0,
    );
  });
});

describe('splitForStreaming', () => {
  it('splits at word boundaries and loses nothing', () => {
    const text = 'Refunds take 14 days [1].\n\n> quoted line\n\twith tabs  and  spaces 🚀 end';
    const pieces = splitForStreaming(text, 10);
    expect(pieces.join('')).toBe(text);
    expect(pieces.length).toBeGreaterThan(3);
    expect(splitForStreaming('')).toEqual([]);
    expect(splitForStreaming('a'.repeat(100), 10)).toEqual(['a'.repeat(100)]);
  });
});

describe('prompt', () => {
  it('titles a passage without repeating a heading that starts with the title', () => {
    expect(passageTitle(passage())).toBe('Guide > Install > Linux');
    expect(passageTitle(passage({ heading: 'Guide > Install' }))).toBe('Guide > Install');
    expect(passageTitle(passage({ heading: '' }))).toBe('Guide');
  });

  it('numbers sources as the prompt numbers passages, with short snippets', () => {
    const long = passage({ chunkId: 'chk_2', text: `${'word '.repeat(200)}end` });
    const sources = toSources([passage(), long]);
    expect(sources.map((source) => source.id)).toEqual(['1', '2']);
    expect(sources[0]).toMatchObject({ title: 'Guide > Install > Linux', uri: 'guide.md', score: 0.1235 });
    expect(sources[1]?.snippet.length).toBeLessThanOrEqual(301);
    const messages = buildGroundedMessages({
      systemPrompt: 'Be brief.',
      history: [
        { role: 'user', content: 'earlier' },
        { role: 'assistant', content: '' },
      ],
      question: 'How do I install?',
      passages: [passage(), long],
      glossary: [{ term: 'CLI', definition: 'command line' }],
    });
    expect(messages.map((message) => message.role)).toEqual(['system', 'user', 'user']);
    const system = messages[0]?.content ?? '';
    expect(system.startsWith('Be brief.\n\n')).toBe(true);
    expect(system).toContain('- CLI: command line');
    expect(system.indexOf('[1] Guide > Install > Linux\nRun the installer.')).toBeLessThan(
      system.indexOf('[2] '),
    );
  });

  it('snippets show every run of whitespace as one space, as \\s+ replaced and trimmed would', () => {
    // Spaces, tabs, line breaks, no-break and other Unicode spaces, a byte order mark, among letters.
    const piece = fc.constantFrom(
      ' ',
      '  ',
      '\t',
      '\n',
      '\r\n',
      '\u00a0',
      '\u2003',
      '\u2028',
      '\ufeff',
      'a',
      'bc',
      'é',
      '…',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        const text = pieces.join('');
        expect(collapseWhitespace(text)).toBe(text.replace(/\s+/gu, ' ').trim());
      }),
    );
    expect(toSources([passage({ text: '\n  Run\tthe\u00a0 installer.\r\n' })])[0]?.snippet).toBe(
      'Run the installer.',
    );
  });

  it('shows a chunk as it is now, not as an earlier answer showed it under the same chunk id', () => {
    const before = toSources([passage({ chunkId: 'chk_edited', text: 'Old text.' })])[0];
    expect(before).toMatchObject({ title: 'Guide > Install > Linux', snippet: 'Old text.' });
    const edited = passage({
      chunkId: 'chk_edited',
      text: 'New text.',
      heading: 'Setup',
      source: '/srv/docs/b.md',
    });
    expect(toSources([edited])[0]).toMatchObject({
      title: 'Guide > Setup',
      uri: 'b.md',
      snippet: 'New text.',
    });
    const retitled = toSources([{ ...edited, documentTitle: 'Handbook' }])[0];
    expect(retitled?.title).toBe('Handbook > Setup');
    // The ids come from the same face: a chunk id under another document is not shown with the first one's id.
    const moved = toSources([{ ...edited, documentTitle: 'Handbook', documentId: 'doc_other' }])[0];
    expect(moved).toMatchObject({ documentId: 'doc_other', chunkId: 'chk_edited' });
    const system =
      buildGroundedMessages({
        systemPrompt: null,
        history: [],
        question: 'q',
        passages: [edited],
        glossary: [],
      })[0]?.content ?? '';
    expect(system).toContain('[1] Guide > Setup\nNew text.');
  });

  it('reads the same grounded prompt every time, holding no copy of its passages of its own', () => {
    // Passages as every answer reads them from the store: equal text, each answer its own copy of the strings.
    const texts = Array.from({ length: 6 }, (_, index) => `Passage ${index}: ${'lorem ipsum '.repeat(170)}`);
    const fresh = (text: string): string => Buffer.from(text).toString('utf8');
    const input = () => ({
      systemPrompt: ' Be brief. ',
      history: [],
      question: 'How?',
      passages: texts.map((text, index) =>
        passage({ chunkId: `chk_held_${index}`, heading: `Part ${index}`, text: fresh(text) }),
      ),
      glossary: [{ term: 'CLI', definition: 'command line' }],
    });
    const expected = [
      'Be brief.',
      GROUNDING_INSTRUCTIONS,
      'Glossary (use these meanings):\n- CLI: command line',
      'Sources:',
      texts.map((text, index) => `[${index + 1}] Guide > Part ${index}\n${text}`).join('\n\n'),
    ].join('\n\n');
    const first = buildGroundedMessages(input());
    // The text is put together on each read: every read gives it whole.
    expect(first[0]?.content).toBe(expected);
    expect(first[0]?.content).toBe(expected);
    expect(JSON.parse(JSON.stringify(first))).toEqual([
      { role: 'system', content: first[0]?.content },
      { role: 'user', content: 'How?' },
    ]);

    // 400 answers held with their prompts (the passages let go): the prompts' ~12 KB of text each are the faces'.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage().heapUsed;
    const held = Array.from({ length: 400 }, () => buildGroundedMessages(input()));
    gc();
    const perPrompt = (process.memoryUsage().heapUsed - before) / held.length;
    // About 1 KB each here; 13 KB when each prompt kept its text.
    expect(perPrompt).toBeLessThan(4096);
    expect(held[399]?.[0]?.content).toBe(first[0]?.content);
  });

  it('tells the model plainly when nothing matched', () => {
    const system =
      buildGroundedMessages({ systemPrompt: null, history: [], question: 'q', passages: [], glossary: [] })[0]
        ?.content ?? '';
    expect(system).toContain('No passage in the knowledge base matched this question.');
  });
});
