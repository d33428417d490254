// The flags of the three benchmarks `npm run bench` runs one after another with the same arguments: each reads its
// own and accepts the others' without reading them. One table, so a flag added to one benchmark cannot make the
// others refuse the command line (`--scenarios` once stopped `npm run bench` at the retrieval benchmark).

import { parseArgs } from 'node:util';

type Flag = { type: 'string' } | { type: 'boolean' };

/** Each benchmark's own flags besides --quick, --cpu-prof and --help, which all three read. */
export const BENCH_FLAGS = {
  stream: {
    concurrency: { type: 'string' },
    scenarios: { type: 'string' },
    tokens: { type: 'string' },
    'inter-token-ms': { type: 'string' },
    trials: { type: 'string' },
    'ramp-ms': { type: 'string' },
    'redis-url': { type: 'string' },
    warmup: { type: 'string' },
    compression: { type: 'boolean' },
  },
  retrieval: {
    chunks: { type: 'string' },
    questions: { type: 'string' },
    rebuild: { type: 'boolean' },
  },
  answers: {
    answers: { type: 'string' },
    trials: { type: 'string' },
    warmup: { type: 'string' },
  },
} as const satisfies Record<string, Record<string, Flag>>;

export type BenchName = keyof typeof BENCH_FLAGS;

const COMMON_FLAGS = {
  quick: { type: 'boolean', default: false },
  'cpu-prof': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** A benchmark's own flags as parseArgs reads them: a string or a boolean when given; --quick and --help always. */
type OwnValues<Bench extends BenchName> = {
  [Name in keyof (typeof BENCH_FLAGS)[Bench]]?: (typeof BENCH_FLAGS)[Bench][Name] extends { type: 'boolean' }
    ? boolean
    : string;
} & { quick: boolean; help: boolean; 'cpu-prof'?: string };

/** The flags only the other benchmarks read. */
function othersFlags(bench: BenchName): Record<string, Flag> {
  const own: Record<string, Flag> = BENCH_FLAGS[bench];
  const others: Record<string, Flag> = {};
  for (const flags of Object.values(BENCH_FLAGS)) {
    for (const [name, flag] of Object.entries(flags)) {
      if (!(name in own)) others[name] = flag;
    }
  }
  return others;
}

/**
 * The command line as `bench` reads it: its own flags typed, an unknown flag an error, and the other benchmarks'
 * flags that were given, by name, for the note that they are ignored here.
 */
export function parseBenchArgs<Bench extends BenchName>(
  bench: Bench,
  args: string[] = process.argv.slice(2),
) {
  const others = othersFlags(bench);
  const { values } = parseArgs({
    args,
    options: { ...others, ...COMMON_FLAGS, ...BENCH_FLAGS[bench] },
    strict: true,
  });
  const ignored = Object.keys(others).filter((name) => values[name] !== undefined);
  // The others' flags were given or not; this benchmark reads only its own, typed as parseArgs types them.
  return { values: values as OwnValues<Bench>, ignored };
}

/** The USAGE line that says which flags are the others'. */
export function othersFlagsNote(bench: BenchName): string {
  const names = Object.keys(othersFlags(bench)).map((name) => `--${name}`);
  return `npm run bench passes its flags to all three benchmarks; the others' are ignored here:\n  ${names.join(', ')}`;
}

/** Says which of the given flags are the other benchmarks' (nothing when none are). */
export function noteIgnoredFlags(ignored: readonly string[]): void {
  if (ignored.length === 0) return;
  console.log(
    `note: ${ignored.map((name) => `--${name}`).join(', ')}: the other benchmarks' flags, ignored here`,
  );
}
