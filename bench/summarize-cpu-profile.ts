// Summarises a V8 .cpuprofile (from node --cpu-prof): top functions by self and inclusive time, and time per package.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { functionKey, packageOf } from './code-areas.ts';
import { markdownTable } from './stats.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** V8 counts lines from 0. */
function frameKey(frame: CallFrame): string {
  return functionKey(frame, frame.lineNumber + 1);
}

/** Usage: node bench/summarize-cpu-profile.ts <file.cpuprofile> [--from-ms N] [--to-ms N] [--top N] */
function main(): void {
  const { values, positionals } = parseArgs({
    options: {
      'from-ms': { type: 'string' },
      'to-ms': { type: 'string' },
      top: { type: 'string', default: '25' },
    },
    allowPositionals: true,
  });
  const file = positionals[0];
  if (file === undefined) {
    console.log(
      'Usage: node bench/summarize-cpu-profile.ts <file.cpuprofile> [--from-ms N] [--to-ms N] [--top N]',
    );
    process.exitCode = 2;
    return;
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const fromUs = values['from-ms'] === undefined ? 0 : Number(values['from-ms']) * 1000;
  const toUs = values['to-ms'] === undefined ? Number.POSITIVE_INFINITY : Number(values['to-ms']) * 1000;
  const top = Number(values.top);

  const byId = new Map<number, ProfileNode>();
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parentOf.set(child, node.id);
  }

  const selfByNode = new Map<number, number>();
  let elapsedUs = 0;
  let windowUs = 0;
  for (const [index, nodeId] of profile.samples.entries()) {
    elapsedUs += profile.timeDeltas[index] ?? 0;
    if (elapsedUs < fromUs || elapsedUs > toUs) continue;
    // A sample's delta is the time since the previous one; attribute the next delta to it, as DevTools does.
    const weight = profile.timeDeltas[index + 1] ?? 0;
    selfByNode.set(nodeId, (selfByNode.get(nodeId) ?? 0) + weight);
    windowUs += weight;
  }

  const selfByFunction = new Map<string, number>();
  const totalByFunction = new Map<string, number>();
  const selfByPackage = new Map<string, number>();
  let idleUs = 0;
  for (const [nodeId, micros] of selfByNode) {
    const node = byId.get(nodeId);
    if (node === undefined) continue;
    if (node.callFrame.functionName === '(idle)') {
      idleUs += micros;
      continue;
    }
    const key = frameKey(node.callFrame);
    selfByFunction.set(key, (selfByFunction.get(key) ?? 0) + micros);
    const pkg = packageOf(node.callFrame);
    selfByPackage.set(pkg, (selfByPackage.get(pkg) ?? 0) + micros);
    // Inclusive time: every distinct function on the stack, counted once even when recursive.
    const seen = new Set<string>();
    let current: number | undefined = nodeId;
    while (current !== undefined) {
      const frame = byId.get(current)?.callFrame;
      if (frame === undefined) break;
      const stackKey = frameKey(frame);
      if (!seen.has(stackKey)) {
        seen.add(stackKey);
        totalByFunction.set(stackKey, (totalByFunction.get(stackKey) ?? 0) + micros);
      }
      current = parentOf.get(current);
    }
  }

  const busyUs = windowUs - idleUs;
  const percent = (micros: number): string => `${((micros / busyUs) * 100).toFixed(1)}%`;
  const rows = (map: Map<string, number>): string[][] =>
    [...map.entries()]
      .sort((left, right) => right[1] - left[1])
      .slice(0, top)
      .map(([key, micros]) => [key, (micros / 1000).toFixed(0), percent(micros)]);

  console.log(
    `window ${(windowUs / 1000).toFixed(0)} ms, busy (not idle) ${(busyUs / 1000).toFixed(0)} ms on the main thread\n`,
  );
  console.log('self time by package\n');
  console.log(markdownTable(['package', 'self ms', 'of busy'], rows(selfByPackage)));
  console.log('\nself time by function\n');
  console.log(markdownTable(['function', 'self ms', 'of busy'], rows(selfByFunction)));
  console.log('\ninclusive time by function\n');
  console.log(markdownTable(['function', 'total ms', 'of busy'], rows(totalByFunction)));
}

main();
