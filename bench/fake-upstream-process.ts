// Child process entry: the fake OpenAI upstream on a free port, its scenario switched by the benchmark over IPC.

import { startFakeUpstream } from '../test/fakes/openai-upstream.ts';
import type { ReadyMessage, ScenarioSetMessage, SetScenarioMessage } from './messages.ts';

function isSetScenario(message: unknown): message is SetScenarioMessage {
  return (
    typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'set-scenario'
  );
}

async function main(): Promise<void> {
  const send = process.send?.bind(process);
  if (send === undefined)
    throw new Error('fake-upstream-process.ts is started by bench/stream-bench.ts (IPC)');
  const upstream = await startFakeUpstream({ host: '127.0.0.1', port: 0 });

  process.on('message', (message: unknown) => {
    if (!isSetScenario(message)) return;
    const previous = upstream.requests;
    const reply: ScenarioSetMessage = {
      type: 'scenario-set',
      previousRequests: previous.length,
      previousCompleted: previous.filter((log) => log.completed).length,
    };
    // reset() drops the request log (it grows by one entry per request) and restores the start scenario.
    upstream.reset();
    upstream.setScenario(message.scenario);
    send(reply);
  });

  const stop = (): void => {
    void upstream.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // The benchmark is gone (even killed): do not outlive it.
  process.once('disconnect', stop);

  const ready: ReadyMessage = { type: 'ready', port: upstream.port };
  send(ready);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
