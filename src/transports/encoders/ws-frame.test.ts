import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../core/events.ts';
import { HOSTILE_TOKENS } from './hostile-text.test-fixture.ts';
import { decodeServerFrame, encodeWsControlFrame, encodeWsEventFrame } from './ws-frame.ts';

describe('WebSocket frames', () => {
  it('wrap each event with its run id and round-trip hostile text', () => {
    HOSTILE_TOKENS.forEach((text, seq) => {
      const event: RunEvent = { type: 'token', seq, text };
      const frame = decodeServerFrame(encodeWsEventFrame('run_"q"', { event, json: JSON.stringify(event) }));
      expect(frame).toEqual({ type: 'event', runId: 'run_"q"', event });
    });
  });

  it('encode control frames', () => {
    const frame = { type: 'accepted', requestId: 'r1', runId: 'run_1' } as const;
    expect(decodeServerFrame(encodeWsControlFrame(frame))).toEqual(frame);
  });
});
