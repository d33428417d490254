import { describe, expect, it } from 'vitest';
import { numberedLines, type NumberedLine } from './jsonl-lines.ts';

function* chunksOf(...parts: (string | Uint8Array)[]): Generator<Uint8Array> {
  for (const part of parts) yield typeof part === 'string' ? Buffer.from(part) : part;
}

async function collect(source: Iterable<Uint8Array>, max?: number): Promise<NumberedLine[]> {
  const lines: NumberedLine[] = [];
  for await (const line of numberedLines(source, max)) lines.push(line);
  return lines;
}

describe('numberedLines', () => {
  it('numbers lines across chunk boundaries, including empty ones', async () => {
    expect(await collect(chunksOf('a\nb', 'c\n\n', 'd\n'))).toEqual([
      { number: 1, text: 'a', terminated: true },
      { number: 2, text: 'bc', terminated: true },
      { number: 3, text: '', terminated: true },
      { number: 4, text: 'd', terminated: true },
    ]);
  });

  it('keeps a character whose bytes are split across chunks', async () => {
    const rocket = Buffer.from('🚀\n');
    const lines = await collect(chunksOf(rocket.subarray(0, 1), rocket.subarray(1, 3), rocket.subarray(3)));
    expect(lines).toEqual([{ number: 1, text: '🚀', terminated: true }]);
  });

  it('says when the last line has no newline (a file cut short)', async () => {
    expect(await collect(chunksOf('a\n{"kind":'))).toEqual([
      { number: 1, text: 'a', terminated: true },
      { number: 2, text: '{"kind":', terminated: false },
    ]);
  });

  it('refuses invalid UTF-8 with its line number', async () => {
    await expect(collect(chunksOf('ok\n', new Uint8Array([0x61, 0xff, 0x0a])))).rejects.toThrow(
      'line 2: not valid UTF-8 text',
    );
  });

  it('refuses a line longer than the limit without holding it', async () => {
    await expect(collect(chunksOf('short\n', 'x'.repeat(600), 'x'.repeat(600)), 1024)).rejects.toThrow(
      /^line 2: longer than/,
    );
  });

  it('yields each line as soon as it is complete, without reading ahead (a 100 MB file is never held)', async () => {
    let pulled = 0;
    function* source(): Generator<Uint8Array> {
      for (let index = 0; index < 1000; index += 1) {
        pulled += 1;
        yield Buffer.from(`{"n":${index}}\n`);
      }
    }
    const lines = numberedLines(source());
    for (let index = 0; index < 3; index += 1) await lines.next();
    expect(pulled).toBe(3);
    await lines.return(undefined);
  });
});
