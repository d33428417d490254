import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.ts';

describe('canonicalJson', () => {
  it('puts kind first and sorts every other key, at every depth', () => {
    const a = canonicalJson({ z: 1, kind: 'chunk', a: { y: [{ b: 2, a: 1 }], x: null } });
    const b = canonicalJson({ a: { x: null, y: [{ a: 1, b: 2 }] }, kind: 'chunk', z: 1 });
    expect(a).toBe('{"kind":"chunk","a":{"x":null,"y":[{"a":1,"b":2}]},"z":1}');
    expect(b).toBe(a);
  });

  it('writes what JSON.parse reads back unchanged', () => {
    const value = {
      text: 'line\nbreak "quoted" \u2028 🚀 \u0001',
      numbers: [0.1 + 0.2, 1e-7, 1e21, -0, 2 ** 53],
      flag: false,
    };
    expect(JSON.parse(canonicalJson(value))).toEqual({
      ...value,
      numbers: [0.1 + 0.2, 1e-7, 1e21, 0, 2 ** 53],
    });
  });

  it('leaves out undefined members and writes undefined array items as null, as JSON.stringify does', () => {
    expect(canonicalJson({ a: undefined, b: [undefined, 1] })).toBe(
      JSON.stringify({ a: undefined, b: [undefined, 1] }),
    );
  });
});
