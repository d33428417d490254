// The perf summary charges each sample to the nearest JavaScript function on its stack, as perf script prints it.

import { describe, expect, it } from 'vitest';
import { jitFunction, parsePerfScript, summarizeSamples } from '../../bench/summarize-perf-script.ts';

// Four samples as `perf script -F comm,tid,ip,sym` prints them (innermost frame first): a socket write in the kernel
// under Node's stream code, a SQLite commit under the store (jitdump names, no quote), a wait in epoll with no
// JavaScript above it, and one of V8's worker threads.
const SCRIPT = `MainThread  1200
\tffffffff8144a257 pvm_irq_enable
\tffffffff81000130 entry_SYSCALL_64_after_hwframe
\t           8aeb9 __GI___writev
\t         2246012 node::LibuvStreamWrap::DoTryWrite
\t     7f0000001000 JS:*'writevGeneric node:internal/stream_base_commons:121:22
\t     7f0000002000 JS:+'streamRunToResponse file:///work/main/src/transports/http/stream-response.ts:51:42

MainThread  1200
\t           1a2b3 walWriteOneFrame.isra.0
\t           1a2c4 sqlite3_step
\t     7f0000003000 JS:^flush file:///work/main/src/stores/sqlite/database.ts:185:8
\t     7f0000004000 JS:~' /work/main/node_modules/undici/lib/dispatcher/client-h1.js:950:31

MainThread  1200
\tffffffff8223c951 do_epoll_wait
\t           101829 epoll_pwait
\t           3c0000 uv_run

V8 DefaultWorke  1203
\t           5a5a5 v8::internal::Scavenger::ScavengeObject
`;

describe('summarize-perf-script', () => {
  it('reads each sample: its thread (a name with spaces included) and its frames, kernel ones marked', () => {
    const samples = parsePerfScript(SCRIPT);
    expect(samples.map((sample) => sample.thread)).toEqual([
      'MainThread',
      'MainThread',
      'MainThread',
      'V8 DefaultWorke',
    ]);
    expect(samples[0]?.frames[0]).toBe('[k] pvm_irq_enable');
    expect(samples[0]?.frames[2]).toBe('__GI___writev');
    expect(samples[3]?.frames).toEqual(['v8::internal::Scavenger::ScavengeObject']);
  });

  it('names JavaScript functions from --perf-basic-prof and jitdump symbols, and nothing else', () => {
    expect(jitFunction("JS:*'append file:///work/main/src/stores/memory/memory-run-hub.ts:122:9")).toEqual({
      location: { functionName: 'append', url: 'file:///work/main/src/stores/memory/memory-run-hub.ts' },
      line: 122,
    });
    expect(jitFunction('JS:^listOnTimeout node:internal/timers:623:25')).toEqual({
      location: { functionName: 'listOnTimeout', url: 'node:internal/timers' },
      line: 623,
    });
    // An anonymous function with no script, and WebAssembly.
    expect(jitFunction("JS:+' :3:17")).toEqual({ location: { functionName: '', url: '' }, line: 3 });
    expect(jitFunction('JS:wasm-function[20]-20-turbofan')?.location.url).toBe('wasm');
    expect(jitFunction('sqlite3_step')).toBeUndefined();
    expect(jitFunction('[k] do_syscall_64')).toBeUndefined();
  });

  it('charges kernel and native frames to the nearest JavaScript function, and counts other threads apart', () => {
    const summary = summarizeSamples(parsePerfScript(SCRIPT), 'MainThread');
    expect(summary.samples).toBe(4);
    expect(Object.fromEntries(summary.byPackage)).toEqual({
      'node:internal': 1,
      'src/stores/sqlite': 1,
      '(kernel, no JavaScript)': 1,
    });
    expect(Object.fromEntries(summary.byFunction)).toEqual({
      'writevGeneric node:internal/stream_base_commons:121': 1,
      'flush src/stores/sqlite/database.ts:185': 1,
      '(kernel, no JavaScript)': 1,
    });
    expect(Object.fromEntries(summary.otherThreads)).toEqual({ 'V8 DefaultWorke': 1 });
  });
});
