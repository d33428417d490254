// The banner over an answer that quotes the retrieved passages because the model failed, with the error code; an
// admin also reads what to fix (loaded from GET /api/runs/:runId/diagnosis), a visitor never does.

import type { VNode } from 'preact';
import { useEffect, useState } from 'preact/hooks';

/** Loads what an admin should fix for a run; undefined for everyone else. */
export type Diagnose = (runId: string) => Promise<string | null>;

export function FallbackNotice(props: {
  reason: string;
  runId: string | undefined;
  diagnose: Diagnose | undefined;
}): VNode {
  const { reason, runId, diagnose } = props;
  const [hint, setHint] = useState<string | null>(null);
  useEffect(() => {
    if (diagnose === undefined || runId === undefined) return;
    diagnose(runId).then(setHint, () => setHint(null));
  }, [diagnose, runId]);
  return (
    <div class="rv-note rv-fallback" role="note">
      The model is unavailable; here are the passages that answer it.{' '}
      <span class="rv-code-tag">{reason}</span>
      {hint !== null ? <p class="rv-admin-hint">Admin: {hint}</p> : null}
    </div>
  );
}
