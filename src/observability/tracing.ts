// OpenTelemetry traces (TRACING=true): one span per run, with a child span per pipeline phase and per provider
// request. Written against @opentelemetry/api only: spans go to whatever SDK the process registers (for example
// `node --import ./otel-setup.mjs`, or auto-instrumentation); with none registered they cost nothing.

import { context, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import type { ProviderCall, RunLabels, RunObserver, RunOutcome, RunTrace } from '../core/observer.ts';

export const TRACER_NAME = 'rivulet';

export class TracingObserver implements RunObserver {
  private readonly tracer: Tracer;

  constructor(tracer: Tracer = trace.getTracer(TRACER_NAME)) {
    this.tracer = tracer;
  }

  runStarted(labels: RunLabels): RunTrace {
    const run = this.tracer.startSpan('rivulet.run', {
      attributes: { 'rivulet.chatbot': labels.chatbotId, 'rivulet.provider': labels.provider },
    });
    const parent = trace.setSpan(context.active(), run);
    const child = (name: string, startedAt: number, attributes: Record<string, string | boolean>) =>
      this.tracer.startSpan(name, { startTime: startedAt, attributes }, parent);
    return {
      tokenGap() {},
      phaseEnded(name, startedAt, endedAt) {
        child(`rivulet.phase.${name}`, startedAt, { 'rivulet.phase': name }).end(endedAt);
      },
      providerCall(call: ProviderCall) {
        const span = child('rivulet.provider.call', call.startedAt, {
          'rivulet.provider': call.provider,
          'gen_ai.request.model': call.model,
          'rivulet.streaming': call.streaming,
        });
        if (call.errorCode !== undefined) {
          span.setAttribute('rivulet.error_code', call.errorCode);
          span.setStatus({ code: SpanStatusCode.ERROR, message: call.errorCode });
        }
        span.end(call.endedAt);
      },
      finished(outcome: RunOutcome) {
        run.setAttributes({
          'rivulet.status': outcome.status,
          'rivulet.cached': outcome.cached,
          'rivulet.cache': outcome.cache,
          'rivulet.output_tokens': outcome.outputTokens,
          'rivulet.total_ms': outcome.totalMs,
          ...(outcome.ttftMs === null ? {} : { 'rivulet.ttft_ms': outcome.ttftMs }),
        });
        if (outcome.status === 'failed') {
          run.setStatus({ code: SpanStatusCode.ERROR, message: outcome.errorCode ?? 'failed' });
        }
        run.end();
      },
    };
  }
}
