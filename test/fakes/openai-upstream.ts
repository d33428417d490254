// The fake upstream's original entry point, kept so existing tests, the CLI and benchmarks import it unchanged.

export { generateTokens, mulberry32 } from './generate-tokens.ts';
export {
  startFakeUpstream,
  type FakeScenario,
  type FakeUpstream,
  type FakeUpstreamOptions,
  type UpstreamRequestLog,
} from './fake-upstream.ts';
