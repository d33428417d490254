// The IPC messages between the benchmark and the child processes it owns (fake upstream, raw-pipe relay).

import type { FakeScenario } from '../test/fakes/openai-upstream.ts';

/** Sent by a child once its server is listening. */
export interface ReadyMessage {
  type: 'ready';
  port: number;
}

/** Sent to the fake upstream: clear its request log and serve this scenario to every following request. */
export interface SetScenarioMessage {
  type: 'set-scenario';
  scenario: FakeScenario;
}

/** The fake upstream's answer to set-scenario, with what it saw since the previous one. */
export interface ScenarioSetMessage {
  type: 'scenario-set';
  previousRequests: number;
  previousCompleted: number;
}
