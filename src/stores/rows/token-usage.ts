// A token_usage row (tokens spent per UTC day per subject), for every backend.

export interface TokenUsageRow {
  day: string;
  scope: string;
  subject: string;
  tokens: number;
}
