// The recent provider failures that answers fell back on quoted passages for, by run: what an admin reads to fix
// the configuration (GET /api/runs/:runId/diagnosis). In memory, bounded; each instance keeps its own runs'.

export interface ProviderIncident {
  runId: string;
  provider: string;
  code: string;
  /** What to fix ("OPENAI_API_KEY rejected (401): ..."): for admins only. */
  hint: string;
  at: number;
}

const MAX_INCIDENTS = 500;

export class ProviderIncidents {
  private readonly byRun = new Map<string, ProviderIncident>();

  record(incident: ProviderIncident): void {
    this.byRun.set(incident.runId, incident);
    // Oldest first in a Map's order: drop from the front past the bound.
    while (this.byRun.size > MAX_INCIDENTS) {
      const oldest = this.byRun.keys().next().value;
      if (oldest === undefined) break;
      this.byRun.delete(oldest);
    }
  }

  forRun(runId: string): ProviderIncident | undefined {
    return this.byRun.get(runId);
  }
}
