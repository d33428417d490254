// GET /metrics after scripted runs (complete, cached, resumed, stopped, abandoned, failed): every counter and
// histogram moved by the expected amount, and no label carries a run, conversation or user id.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/core/events.ts';
import { readSse, type SseReadResult } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const REFUNDS = `# Refund policy

Refunds are issued within 14 days after the returned parcel reaches our warehouse in Lyon.`;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format: `name{label="value",...} number` lines; comments and blank lines skipped. */
function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/u.exec(line);
    if (match === null) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/gu)) {
      labels[label[1]!] = label[2]!.replace(/\\(.)/gu, (_all, char: string) => (char === 'n' ? '\n' : char));
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

async function scrape(server: TestServer): Promise<Sample[]> {
  const response = await fetch(`${server.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return parsePrometheusText(await response.text());
}

/** Sum of the samples named `name` whose labels include `labels`. */
function total(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter(
      (sample) =>
        sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    )
    .reduce((sum, sample) => sum + sample.value, 0);
}

function startOf(result: SseReadResult): Extract<RunEvent, { type: 'start' }> {
  const start = result.frames[0]?.data;
  if (start?.type !== 'start') throw new Error('stream did not begin with start');
  return start;
}

const slowAnswer = { tokenCount: 2000, interTokenMs: 10, seed: 3 };

describe('GET /metrics', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(
      { RUN_GRACE_MS: '200', LLM_RETRIES: '1', LLM_RETRY_BASE_MS: '1', LLM_RETRY_MAX_MS: '2' },
      { tokens: ['Refunds take ', '14 days ', '[1].'] },
    );
    const form = new FormData();
    form.append('file', new Blob([REFUNDS]), 'refunds.md');
    const upload = await fetch(`${server.url}/api/documents`, { method: 'POST', body: form });
    expect(upload.status).toBe(200);
  });
  afterAll(async () => {
    await server.close();
  });

  it('counts complete, cached, resumed, stopped, abandoned and failed runs', async () => {
    const before = await scrape(server);
    const ids: string[] = [];
    const remember = (result: SseReadResult): void => {
      const start = startOf(result);
      ids.push(start.runId, start.conversationId, start.messageId);
    };
    const ask = (message: string, options: Parameters<typeof readSse>[1] = {}) =>
      readSse(`${server.url}/api/chat/stream`, { body: { message }, ...options });

    // Complete (a cache miss that fills the cache), then the same question from the cache.
    const complete = await ask('How soon are refunds issued?');
    remember(complete);
    expect(complete.frames.at(-1)?.data).toMatchObject({ type: 'done', finishReason: 'stop', cached: false });
    const cached = await ask('How soon are refunds issued?');
    remember(cached);
    expect(cached.frames.at(-1)?.data).toMatchObject({ type: 'done', cached: true });

    // Resumed: the finished run read again after its second event; its three tokens come merged.
    const runId = startOf(complete).runId;
    const resumed = await readSse(`${server.url}/api/runs/${runId}/events`, {
      headers: { 'last-event-id': complete.frames[1]!.id! },
    });
    expect(resumed.status).toBe(200);
    expect(resumed.frames.at(-1)?.data).toMatchObject({ type: 'done' });

    // Stopped by the user mid-stream.
    server.upstream.setScenario(slowAnswer);
    let stopRunId = '';
    const stopped = await ask('stop me', {
      onFrame: (frame) => {
        if (frame.data.type === 'start') stopRunId = frame.data.runId;
        if (frame.data.type === 'token' && frame.data.seq === 10) {
          void fetch(`${server.url}/api/runs/${stopRunId}/stop`, { method: 'POST' });
        }
      },
    });
    remember(stopped);
    expect(stopped.frames.at(-1)?.data).toMatchObject({ type: 'done', finishReason: 'aborted' });

    // Abandoned: the reader leaves and nobody comes back within the grace window.
    let tokens = 0;
    const left = await ask('then I leave', {
      onFrame: (frame) => frame.data.type === 'token' && (tokens += 1) === 5,
    });
    expect(left.ended).toBe(false);
    remember(left);
    await server.upstream.waitForClose(2, 5000);
    await server.app.chat.settled();

    // Failed: 500 on both attempts (one retry), UPSTREAM_UNAVAILABLE.
    server.upstream.reset();
    server.upstream.setScenario({ errorStatus: 500 });
    const failed = await ask('fail please');
    remember(failed);
    expect(failed.frames.at(-1)?.data).toMatchObject({ type: 'error', code: 'UPSTREAM_UNAVAILABLE' });
    await server.app.chat.settled();
    const failedCalls = server.upstream.requests.filter((request) =>
      request.url.endsWith('/chat/completions'),
    ).length;
    expect(failedCalls).toBe(2);

    const after = await scrape(server);
    const delta = (name: string, labels: Record<string, string> = {}): number =>
      total(after, name, labels) - total(before, name, labels);
    const bot = { chatbot: 'default', provider: 'openai-compatible' };

    expect(delta('rivulet_runs_started_total', bot)).toBe(5);
    expect(delta('rivulet_runs_finished_total', { ...bot, status: 'complete' })).toBe(2);
    expect(delta('rivulet_runs_finished_total', { ...bot, status: 'complete', cached: 'true' })).toBe(1);
    expect(delta('rivulet_runs_finished_total', { ...bot, status: 'stopped' })).toBe(2);
    expect(delta('rivulet_runs_finished_total', { ...bot, status: 'failed' })).toBe(1);
    expect(delta('rivulet_runs_failed_total', { ...bot, code: 'UPSTREAM_UNAVAILABLE' })).toBe(1);
    expect(delta('rivulet_runs_failed_total')).toBe(1);
    expect(delta('rivulet_answer_cache_hits_total', { chatbot: 'default' })).toBe(1);
    expect(delta('rivulet_answer_cache_misses_total', { chatbot: 'default' })).toBe(4);

    // Histograms: TTFT for every run that sent a token (not the failed one), duration for all five.
    expect(delta('rivulet_ttft_seconds_count', bot)).toBe(4);
    expect(delta('rivulet_ttft_seconds_count', { ...bot, cached: 'true' })).toBe(1);
    expect(delta('rivulet_ttft_seconds_bucket', { ...bot, le: '+Inf' })).toBe(4);
    expect(delta('rivulet_ttft_seconds_sum', bot)).toBeGreaterThan(0);
    expect(delta('rivulet_run_duration_seconds_count', bot)).toBe(5);
    expect(delta('rivulet_run_duration_seconds_count', { ...bot, status: 'stopped' })).toBe(2);
    // generate: the complete miss, both stopped runs and the failed one; the cached answer skips it.
    expect(delta('rivulet_phase_duration_seconds_count', { chatbot: 'default', phase: 'generate' })).toBe(4);
    expect(delta('rivulet_phase_duration_seconds_count', { chatbot: 'default', phase: 'cache' })).toBe(5);
    expect(delta('rivulet_tokens_per_second_count', bot)).toBe(1);
    expect(delta('rivulet_tokens_per_second_sum', bot)).toBeGreaterThan(0);
    // Gaps between the provider's tokens: two in the three-token answer, many in the slow ones.
    expect(delta('rivulet_inter_token_gap_seconds_count', bot)).toBeGreaterThan(2 + 10);
    expect(delta('rivulet_output_tokens_total', bot)).toBeGreaterThan(0);

    // Hub: one resume (with merged tokens), one reader that left a running run, one grace abort.
    expect(delta('rivulet_resumes_total')).toBe(1);
    expect(delta('rivulet_merged_frames_total')).toBeGreaterThanOrEqual(1);
    expect(delta('rivulet_reader_disconnects_total')).toBe(1);
    expect(delta('rivulet_grace_expired_total')).toBe(1);
    expect(delta('rivulet_grace_aborts_total')).toBe(1);
    expect(delta('rivulet_readers_attached_total')).toBe(6);
    expect(total(after, 'rivulet_active_runs')).toBe(0);
    expect(total(after, 'rivulet_active_readers')).toBe(0);

    // Provider: every failed call, and the retry between them.
    const provider = { provider: 'openai-compatible', code: 'UPSTREAM_UNAVAILABLE' };
    expect(delta('rivulet_provider_errors_total', provider)).toBe(failedCalls);
    expect(delta('rivulet_provider_retries_total', provider)).toBe(failedCalls - 1);
    expect(delta('rivulet_provider_failovers_total')).toBe(0);

    // Node process metrics come from the same registry.
    expect(total(after, 'rivulet_process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(after.some((sample) => sample.name.startsWith('rivulet_nodejs_eventloop_lag'))).toBe(true);

    // Labels are bounded: never a run, conversation or message id.
    const labelValues = after.flatMap((sample) => Object.values(sample.labels));
    for (const id of ids) expect(labelValues).not.toContain(id);
    expect(labelValues.filter((value) => /^(run|conv|msg)_/u.test(value))).toEqual([]);
    const labelNames = new Set(after.flatMap((sample) => Object.keys(sample.labels)));
    for (const name of labelNames) {
      expect([
        'chatbot',
        'provider',
        'code',
        'phase',
        'status',
        'cached',
        'to',
        'le',
        // Node process metrics from prom-client's collectDefaultMetrics.
        'kind',
        'type',
        'space',
        'version',
        'major',
        'minor',
        'patch',
        'quantile',
      ]).toContain(name);
    }
  });

  it('is not served with METRICS_ENABLED=false', async () => {
    const off = await startTestServer({ METRICS_ENABLED: 'false' });
    try {
      expect((await fetch(`${off.url}/metrics`)).status).toBe(404);
    } finally {
      await off.close();
    }
  });
});
