import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../../core/redact.ts';
import { errorForStatus } from './upstream-errors.ts';

describe('upstream error details in logs', () => {
  it('mask keys and tokens a provider echoes back, and keep the rest readable', () => {
    const body =
      '{"error":{"message":"Incorrect API key provided: sk-proj-abc123***********************xyz9. You can find your API key at https://platform.openai.com/account/api-keys.","code":"invalid_api_key"}}';
    const detail = errorForStatus(401, body, undefined).detail ?? '';
    expect(detail).not.toContain('sk-proj');
    expect(detail).toContain('Incorrect API key provided: [redacted]');
    expect(detail).toContain('invalid_api_key');
    expect(redactSecrets('Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig')).not.toContain('eyJhbGci');
    expect(redactSecrets('api-key=0123456789abcdef0123456789abcdef')).toBe('api-key=[redacted]');
    expect(redactSecrets('deployment gpt-4o-mini not found (request 42)')).toBe(
      'deployment gpt-4o-mini not found (request 42)',
    );
    expect(redactSecrets('id 3f2a9c1e7b4d4e0f9a8b7c6d5e4f3a2b1c0d9e8f')).toBe('id [redacted]');
  });
});
