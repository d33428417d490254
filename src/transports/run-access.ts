// The one rule for reaching a run by id: it must exist and belong to the caller, and both failures look alike.

import { RivuletError } from '../core/errors.ts';
import type { RunHub, RunInfo } from '../core/run-hub.ts';

/** Unknown and not-yours are the same RUN_NOT_FOUND, so run ids cannot be probed. */
export async function findOwnedRun(hub: RunHub, runId: string, principal: string | null): Promise<RunInfo> {
  const info = await hub.info(runId);
  if (info === undefined || info.ownerId !== principal) throw new RivuletError('RUN_NOT_FOUND');
  return info;
}
