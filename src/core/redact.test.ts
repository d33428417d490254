import { describe, expect, it } from 'vitest';
import { maskCredentials, redactSecrets, redactUrl, upstreamExcerpt } from './redact.ts';

describe('maskCredentials (every log line)', () => {
  it('masks keys, tokens and credentials in query strings', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlMTIz';
    for (const [text, masked] of [
      ['key sk-proj-abc123def456', 'key [redacted]'],
      ['x-api-key: sk-ant-api03-abcdef123', 'x-api-key: [redacted]'],
      [`Authorization: Bearer ${jwt}`, 'Authorization: Bearer [redacted]'],
      [`token ${jwt}`, 'token [redacted]'],
      ['Basic YWxpY2U6cHc9PQ==', 'Basic [redacted]'],
      ['rk_AbCdEf123456_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG', 'rk_AbCdEf123456_[redacted]'],
      ['/api/ws?access_token=abc&x=1', '/api/ws?access_token=[redacted]&x=1'],
      ['https://h/v1?key=AIza123&alt=sse', 'https://h/v1?key=[redacted]&alt=sse'],
      ['"api_key": "0123456789abcdef"', '"api_key": "[redacted]"'],
      ['password=hunter2', 'password=[redacted]'],
    ]) {
      expect(maskCredentials(text!)).toBe(masked);
    }
  });

  it('leaves ids, codes and prose alone', () => {
    for (const text of [
      'req_3f2a9c1e-7b4d-4e0f-9a8b-7c6d5e4f3a2b',
      'run_AbCdEfGhIjKlMnOpQrStUv',
      'conv_0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
      'TOKEN_BUDGET_EXCEEDED',
      'charging token usage failed',
      'limit 120 per minute',
      'unknown or revoked API key',
      'the key points of the answer',
      '/api/runs/run_abc/events?after=12',
    ]) {
      expect(maskCredentials(text)).toBe(text);
    }
  });
});

describe('redactSecrets and upstreamExcerpt (what an upstream sent)', () => {
  it('also masks long opaque words, and masks before cutting', () => {
    expect(redactSecrets('session LEAKEDz9y8x7w6v5u4t3s2r1q0p9o8n7m6l5')).toBe('session [redacted]');
    const key = 'sk-proj-0123456789abcdefghijklmnopqrstuvwxyz';
    // Cut in the middle of the key, the kept half is masked too.
    const excerpt = upstreamExcerpt(`${'x '.repeat(95)}${key} and more`, 200);
    expect(excerpt).not.toContain('0123456789');
    expect(excerpt.length).toBeLessThanOrEqual(200);
  });
});

describe('redactUrl', () => {
  it('masks the query string only', () => {
    expect(redactUrl('/api/me?access_token=abc.def.ghi')).toBe('/api/me?access_token=[redacted]');
    expect(redactUrl('/api/runs/token=abc/events')).toBe('/api/runs/token=abc/events');
  });
});
