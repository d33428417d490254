// What users see of where a passage comes from: no local directories, titles a person would write.
import { describe, expect, it } from 'vitest';
import { displaySource, displayTitle, humaniseStem } from './source-names.ts';

describe('displaySource', () => {
  it('never shows the directories of an absolute local path', () => {
    expect(displaySource('/home/me/handbook/vacation.md')).toBe('vacation.md');
    expect(displaySource('C:\\Users\\me\\handbook\\vacation.md')).toBe('vacation.md');
    expect(displaySource('file:///home/me/notes.txt')).toBe('notes.txt');
    expect(displaySource('~/notes/a.md')).toBe('a.md');
  });

  it('keeps relative paths and web addresses, without dot segments', () => {
    expect(displaySource('handbook/vacation.md')).toBe('handbook/vacation.md');
    expect(displaySource('../shared/./policy.md')).toBe('shared/policy.md');
    expect(displaySource('https://example.com/docs/a.html')).toBe('https://example.com/docs/a.html');
    expect(displaySource('/')).toBeUndefined();
  });
});

describe('titles', () => {
  it('reads a file name as words', () => {
    expect(humaniseStem('getting-started')).toBe('Getting started');
    expect(humaniseStem('faq')).toBe('FAQ');
    expect(humaniseStem('api_keys')).toBe('API keys');
  });

  it('humanises a stored title that is only the file name, and leaves a real title alone', () => {
    expect(displayTitle('faq', 'faq.json')).toBe('FAQ');
    expect(displayTitle('vacation', '/home/me/handbook/vacation.md')).toBe('Vacation');
    expect(displayTitle('Vacation policy', 'vacation.md')).toBe('Vacation policy');
  });
});
