// What users see of a document's origin: a title a person would write, and where it came from without the local
// directories of the machine that ingested it ("/home/me/handbook/vacation.md" is shown as "vacation.md").

/** Words that read as abbreviations in a file name: "faq" is titled "FAQ", not "Faq". */
const ABBREVIATIONS = new Set([
  'api',
  'cli',
  'csv',
  'faq',
  'html',
  'http',
  'id',
  'json',
  'pdf',
  'sdk',
  'sql',
  'ui',
  'url',
]);

/** The file name without its directories and extension: "docs/getting-started.md" → "getting-started". */
export function fileStem(source: string): string {
  const name =
    source
      .split(/[\\/]/u)
      .filter((part) => part !== '')
      .at(-1) ?? source;
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

/** A file name as a title: "getting-started" → "Getting started", "faq" → "FAQ", "api_keys" → "API keys". */
export function humaniseStem(stem: string): string {
  const words = stem
    .replace(/[-_.]+/gu, ' ')
    .replace(/\s+/gu, ' ')
    .trim()
    .split(' ')
    .map((word) => (ABBREVIATIONS.has(word.toLowerCase()) ? word.toUpperCase() : word));
  const text = words.join(' ');
  return text === '' ? stem : text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * A document's title as shown: a title that is only its file name (a document stored before titles were humanised,
 * or one without a heading) reads as words.
 */
export function displayTitle(title: string, source: string): string {
  return title === fileStem(source) ? humaniseStem(title) : title;
}

/** Whether a passage comes from a file of records (JSON, JSON Lines, CSV), each headed by its question or name. */
export function isRecordSource(source: string): boolean {
  return /\.(?:json|jsonl|ndjson|csv)$/iu.test(source);
}

/**
 * Where a document came from, safe to show anyone: a web address as it is; a path without the machine's
 * directories (an absolute path becomes its file name; "." and ".." segments are dropped). Stored sources are
 * relative to the ingest root already; this covers those stored before, and any other absolute one.
 */
export function displaySource(source: string): string | undefined {
  if (/^https?:\/\//iu.test(source)) return source;
  const absolute = /^(?:[\\/~]|[a-z]:[\\/]|file:)/iu.test(source);
  const parts = source
    .replace(/^file:\/*/iu, '/')
    .split(/[\\/]/u)
    .filter((part) => part !== '' && part !== '.' && part !== '..' && part !== '~');
  const shown = absolute ? parts.slice(-1) : parts;
  return shown.length === 0 ? undefined : shown.join('/');
}
