// One record as one line of JSON, byte-for-byte the same whichever backend it was read from: object keys in a fixed
// order (`kind` first, then sorted), however the database returned them (PostgreSQL's jsonb reorders keys).

/** `record` as JSON without a newline: `kind` first when present, every other key sorted, at every depth. */
export function canonicalJson(record: unknown): string {
  return encode(record) ?? 'null';
}

function encode(value: unknown): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      // JSON.stringify gives numbers their shortest round-trip form and non-finite ones as null, as JSON must.
      return JSON.stringify(value);
    case 'object':
      return Array.isArray(value) ? encodeArray(value) : encodeObject(value as Record<string, unknown>);
    case 'bigint':
      throw new TypeError('canonicalJson: a bigint has no JSON form');
    case 'undefined':
    case 'function':
    case 'symbol':
      break;
  }
  // undefined, functions and symbols are left out, as JSON.stringify does.
  return undefined;
}

function encodeArray(items: readonly unknown[]): string {
  return `[${items.map((item) => encode(item) ?? 'null').join(',')}]`;
}

function encodeObject(object: Record<string, unknown>): string {
  const keys = Object.keys(object).sort((a, b) =>
    a === 'kind' ? -1 : b === 'kind' ? 1 : a < b ? -1 : a > b ? 1 : 0,
  );
  const members: string[] = [];
  for (const key of keys) {
    const encoded = encode(object[key]);
    if (encoded !== undefined) members.push(`${JSON.stringify(key)}:${encoded}`);
  }
  return `{${members.join(',')}}`;
}
