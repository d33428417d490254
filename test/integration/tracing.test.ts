// OpenTelemetry spans (TRACING=true) as an SDK registered in the process receives them: one per run, a child per
// phase and per provider request, errors marked.

import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readSse } from '../helpers/sse-client.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

function childrenOf(spans: readonly ReadableSpan[], parent: ReadableSpan): ReadableSpan[] {
  return spans.filter((span) => span.parentSpanContext?.spanId === parent.spanContext().spanId);
}

describe('TRACING=true', () => {
  let server: TestServer;
  beforeAll(async () => {
    trace.setGlobalTracerProvider(provider);
    server = await startTestServer({ TRACING: 'true', LLM_RETRIES: '0' }, { tokenCount: 5 });
    const form = new FormData();
    form.append('file', new Blob(['Tracing makes every phase of an answer visible.']), 'tracing.txt');
    await fetch(`${server.url}/api/documents`, { method: 'POST', body: form });
  });
  afterAll(async () => {
    await server.close();
    await provider.shutdown();
  });
  beforeEach(() => {
    exporter.reset();
  });

  it('reports one span per run with a child per phase and per provider request', async () => {
    await readSse(`${server.url}/api/chat/stream`, { body: { message: 'What does tracing make visible?' } });
    await server.app.chat.settled();
    const spans = exporter.getFinishedSpans();
    const runs = spans.filter((span) => span.name === 'rivulet.run');
    expect(runs).toHaveLength(1);
    const run = runs[0]!;
    expect(run.attributes).toMatchObject({
      'rivulet.chatbot': 'default',
      'rivulet.provider': 'openai-compatible',
      'rivulet.status': 'complete',
      'rivulet.cached': false,
      'rivulet.output_tokens': 5,
    });
    const children = childrenOf(spans, run);
    expect(children.map((span) => span.name).toSorted()).toEqual(
      [
        'rivulet.phase.cache',
        'rivulet.phase.generate',
        'rivulet.phase.history',
        'rivulet.phase.retrieve',
        'rivulet.provider.call',
      ].toSorted(),
    );
    const call = children.find((span) => span.name === 'rivulet.provider.call')!;
    expect(call.attributes).toMatchObject({
      'rivulet.provider': 'openai-compatible',
      'gen_ai.request.model': 'fake-model',
      'rivulet.streaming': true,
    });
    // Children sit inside their run's time span.
    for (const child of children) {
      expect(child.startTime[0] * 1e3 + child.startTime[1] / 1e6).toBeGreaterThanOrEqual(
        run.startTime[0] * 1e3 + run.startTime[1] / 1e6 - 1,
      );
    }
  });

  it('marks a failed run and its failed provider request as errors, with the code', async () => {
    server.upstream.setScenario({ errorStatus: 500 });
    try {
      await readSse(`${server.url}/api/chat/stream`, { body: { message: 'this one fails' } });
      await server.app.chat.settled();
    } finally {
      server.upstream.setScenario({ tokenCount: 5 });
    }
    const spans = exporter.getFinishedSpans();
    const run = spans.find((span) => span.name === 'rivulet.run')!;
    expect(run.status).toMatchObject({ code: 2, message: 'UPSTREAM_UNAVAILABLE' });
    const calls = childrenOf(spans, run).filter((span) => span.name === 'rivulet.provider.call');
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((span) => span.attributes['rivulet.error_code'] === 'UPSTREAM_UNAVAILABLE')).toBe(
      true,
    );
  });
});

describe('TRACING off (the default)', () => {
  it('reports nothing', async () => {
    trace.setGlobalTracerProvider(provider);
    exporter.reset();
    const server = await startTestServer({}, { tokenCount: 3 });
    try {
      await readSse(`${server.url}/api/chat/stream`, { body: { message: 'quiet please' } });
      await server.app.chat.settled();
      expect(exporter.getFinishedSpans()).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
