// The perf summary charges each sample to the nearest JavaScript function on its stack, as perf script prints it.

import { describe, expect, it } from 'vitest';
import {
  jitFunction,
  parsePerfScript,
  summarizeSamples,
  type JitFunction,
} from '../../bench/summarize-perf-script.ts';

/** What jitFunction should give for a function of this name, URL, line and kind. */
const named = (functionName: string, url: string, line: number, kind: JitFunction['kind']): JitFunction => ({
  location: { functionName, url },
  line,
  kind,
});

// Samples as `perf script -F comm,tid,ip,sym` prints them after `perf inject --jit` (innermost frame first, a tab
// before each frame): a socket write in the kernel under Node's stream code, a SQLite commit under the store, a wait
// in epoll with no JavaScript above it, the collector between callbacks, a fast-json-stringify serialiser (made with
// `new Function`), undici's WebAssembly parser and its call back into JavaScript, a frame perf could not name, and one
// of V8's worker threads (its header padded with spaces, as perf prints short names).
const SCRIPT = `MainThread  1200
\tffffffff8144a257 pvm_irq_enable
\tffffffff81000130 entry_SYSCALL_64_after_hwframe
\t           8aeb9 __GI___writev
\t         2246012 node::LibuvStreamWrap::DoTryWrite
\t     7f0000001000 JS:*'writevGeneric node:internal/stream_base_commons:121:22
\t     7f0000002000 JS:^streamRunToResponse file:///work/main/src/transports/http/stream-response.ts:51:42

MainThread  1200
\t           1a2b3 walWriteOneFrame.isra.0
\t           1a2c4 sqlite3_step
\t     7f0000003000 JS:+flush file:///work/main/src/stores/sqlite/database.ts:185:8
\t     7f0000004000 JS:~ /work/main/node_modules/undici/lib/dispatcher/client-h1.js:950:31

MainThread  1200
\tffffffff8223c951 do_epoll_wait
\t           101829 epoll_pwait
\t           3c0000 uv_run

MainThread  1200
\t           5a5a5 v8::internal::Scavenger::ScavengeObject
\t           3c0000 uv_run

MainThread  1200
\t     7f0000005000 JS:+' :1:20
\t     7f0000006000 JS:*serialize /work/main/node_modules/fastify/lib/reply.js:700:10

MainThread  1200
\t     7f0000007000 JS:wasm-function[20]-20-turbofan
\t     7f0000008000 Stub:js-to-wasm:iii:i
\t     7f0000009000 JS:+'execute /work/main/node_modules/undici/lib/dispatcher/client-h1.js:320:11

MainThread  1200
\t     7f000000a000 JS:wasm-to-js-<anonymous>-none
\t     7f000000b000 JS:wasm-function[50]-50-liftoff

MainThread  1200
\t     7f000000c000 [unknown]
\t     7f000000d000 JS:*'append file:///work/main/src/stores/memory/memory-run-hub.ts:122:9

      V8Worker  1203
\t           5a5a5 v8::internal::Scavenger::ScavengeObject
`;

describe('summarize-perf-script', () => {
  it('reads each sample: its thread (a padded header included) and its frames, kernel ones marked', () => {
    const samples = parsePerfScript(SCRIPT);
    expect(samples.map((sample) => sample.thread)).toEqual([
      ...Array<string>(8).fill('MainThread'),
      'V8Worker',
    ]);
    expect(samples[0]?.frames[0]).toBe('[k] pvm_irq_enable');
    expect(samples[0]?.frames[2]).toBe('__GI___writev');
    expect(samples[7]?.frames[0]).toBe('[unknown]');
    expect(samples[8]?.frames).toEqual(['v8::internal::Scavenger::ScavengeObject']);
  });

  it('names what V8 compiled: scripts, code with no script, WebAssembly; nothing else', () => {
    expect(jitFunction("JS:*'append file:///work/main/src/stores/memory/memory-run-hub.ts:122:9")).toEqual(
      named('append', 'file:///work/main/src/stores/memory/memory-run-hub.ts', 122, 'script'),
    );
    // The interpreter's mark, no name, no quote; a module's top-level code.
    expect(jitFunction('JS:~ file:///work/main/src/stores/sqlite/wal-checkpoint-worker.ts:18:27')).toEqual(
      named('', 'file:///work/main/src/stores/sqlite/wal-checkpoint-worker.ts', 18, 'script'),
    );
    expect(jitFunction('Script:~ file:///work/main/src/cli/main.ts:1:1')?.kind).toBe('script');
    expect(jitFunction("JS:+' :1:20")).toEqual(named('', '', 1, 'generated'));
    expect(jitFunction('JS:wasm-function[20]-20-turbofan')).toEqual(
      named('wasm-function[20]', '', 0, 'wasm'),
    );
    expect(jitFunction('JS:llhttp_execute-7-liftoff')?.location.functionName).toBe('llhttp_execute');
    expect(jitFunction('JS:wasm-to-js-<anonymous>-none')?.kind).toBe('wasm');
    // A JavaScript callback whose name starts like WebAssembly's is still JavaScript.
    expect(
      jitFunction("JS:*'wasm_on_body /work/main/node_modules/undici/lib/dispatcher/client-h1.js:172:21")
        ?.kind,
    ).toBe('script');
    expect(jitFunction('Stub:js-to-wasm:iii:i')).toBeUndefined();
    expect(jitFunction('Builtin:JSEntry')).toBeUndefined();
    expect(jitFunction('sqlite3_step')).toBeUndefined();
    expect(jitFunction('[k] do_syscall_64')).toBeUndefined();
  });

  it('charges kernel and native frames to the nearest JavaScript function, and counts other threads apart', () => {
    const summary = summarizeSamples(parsePerfScript(SCRIPT), 'MainThread');
    expect(summary.samples).toBe(9);
    expect(summary.threadSamples).toBe(8);
    expect(Object.fromEntries(summary.byPackage)).toEqual({
      'node:internal': 1,
      'src/stores/sqlite': 1,
      '(kernel, no JavaScript)': 1,
      '(native, no JavaScript)': 1,
      '(JavaScript with no script: new Function, eval)': 1,
      '(WebAssembly)': 2,
      'src/stores/memory': 1,
    });
    expect(Object.fromEntries(summary.byFunction)).toEqual({
      'writevGeneric node:internal/stream_base_commons:121': 1,
      'flush src/stores/sqlite/database.ts:185': 1,
      '(kernel, no JavaScript)': 1,
      '(native, no JavaScript)': 1,
      '(anonymous) (JavaScript with no script: new Function, eval)': 1,
      'wasm-function[20] (WebAssembly)': 1,
      'wasm-to-js-<anonymous>-none (WebAssembly)': 1,
      'append src/stores/memory/memory-run-hub.ts:122': 1,
    });
    expect(Object.fromEntries(summary.otherThreads)).toEqual({ V8Worker: 1 });
  });
});
