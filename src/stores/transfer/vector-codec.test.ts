import { describe, expect, it } from 'vitest';
import { decodeVector, encodeVector } from './vector-codec.ts';

describe('vector codec', () => {
  it('is base64 of little-endian float32, as sqlite-vec stores a vector', () => {
    const vector = new Float32Array([1, -0.5, 0.1, 3.4e38]);
    const encoded = encodeVector(vector);
    const bytes = Buffer.from(encoded, 'base64');
    expect(bytes.readFloatLE(0)).toBe(1);
    expect(bytes.readFloatLE(4)).toBe(-0.5);
    expect(decodeVector(encoded, 4)).toEqual(vector);
  });

  it('refuses a vector of another length than the embedding space', () => {
    expect(() => decodeVector(encodeVector(new Float32Array(3)), 4)).toThrow(
      'the vector holds 3 numbers, the embedding space 4',
    );
  });
});
