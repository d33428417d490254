import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, RivuletError, statusForCode, toRivuletError } from './errors.ts';

describe('error registry', () => {
  it('documents every code, with the same status and retryable flag, in docs/errors.md', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const rows = new Map<string, { status: number; retryable: boolean }>();
    for (const match of doc.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|\s*(yes|no)\s*\|/gm)) {
      rows.set(match[1]!, { status: Number(match[2]), retryable: match[3] === 'yes' });
    }
    const registry = Object.entries(ERROR_CODES).map(([code, spec]) => [
      code,
      { status: spec.status, retryable: spec.retryable },
    ]);
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(registry));
  });

  it('masks unknown errors as INTERNAL, keeping the detail for logs only', () => {
    const error = toRivuletError(new Error('secret sk-123 in a stack'));
    expect(error.code).toBe('INTERNAL');
    expect(error.message).not.toContain('sk-123');
    expect(error.detail).toContain('sk-123');
    expect(error.toJSON()).toEqual({ error: { code: 'INTERNAL', message: ERROR_CODES.INTERNAL.message } });
  });

  it('maps codes seen on the wire to statuses', () => {
    expect(statusForCode('UPSTREAM_RATE_LIMITED')).toBe(429);
    expect(statusForCode('SOMETHING_ELSE')).toBe(502);
    expect(new RivuletError('RUN_TIMEOUT').status).toBe(504);
  });
});
