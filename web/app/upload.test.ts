import { describe, expect, it } from 'vitest';
import { progressView, type UploadProgress } from './upload.ts';

const progress = (overrides: Partial<UploadProgress>): UploadProgress => ({
  sent: 0,
  done: 0,
  total: 3,
  current: null,
  results: [],
  ...overrides,
});

describe('progressView', () => {
  it('shows the same figure in the text and the bar while sending (it said 40% over a 10% bar)', () => {
    expect(progressView(progress({ sent: 0.4 }))).toEqual({ percent: 40, label: 'Sending… 40%' });
    expect(progressView(progress({ sent: 0.999 }))).toEqual({ percent: 99, label: 'Sending… 99%' });
    expect(progressView(progress({ sent: 0 }))).toEqual({ percent: 0, label: 'Sending… 0%' });
  });

  it('then follows the files ingested', () => {
    expect(progressView(progress({ sent: 1, current: 'a.md' }))).toEqual({
      percent: 0,
      label: 'Ingesting a.md (0 of 3 done)',
    });
    expect(progressView(progress({ sent: 1, done: 2, current: 'c.md' }))).toEqual({
      percent: 66,
      label: 'Ingesting c.md (2 of 3 done)',
    });
    expect(progressView(progress({ sent: 1, done: 3 })).percent).toBe(100);
  });
});
