// Record loaders for JSON, JSON Lines and CSV: each record becomes one section. Its text comes from
// options.textFields or, automatically, from the prose-like string fields (id-, URL-, number- and date-like fields
// never); its heading from options.titleField or a question-, title- or name-like field (a FAQ record is headed by
// its question); every other field stays metadata. A list of sentences becomes one "- item" line per entry.
// Everything here is linear in the number of cells (a record's fields are looked up in sets and per-field statistics
// are gathered in one pass): a 100,000-column CSV took 21 s when each field was checked against a list of fields.
// More than MAX_FIELDS distinct fields is refused outright.
import { parse as parseCsv, CsvError } from 'csv-parse/sync';
import { RivuletError } from '../../core/errors.ts';
import type { LoadOptions, ParsedSection } from '../parsed-document.ts';
import {
  decodeText,
  empty,
  MAX_FIELDS,
  tooComplex,
  unreadable,
  type FormatLoader,
  type LoadedParts,
} from './shared.ts';

type Fields = Record<string, unknown>;

/** Average length from which a string field counts as prose when text fields are chosen automatically. */
const PROSE_CHARS = 40;
/** In order of preference: a FAQ's question names its record better than any title. */
const TITLE_WORDS = ['question', 'q', 'title', 'name', 'headline', 'subject', 'heading', 'label'];
/** An array with an entry of this many characters or more is a list of sentences (steps, points), not of tags. */
const LIST_ENTRY_CHARS = 30;
const ID_WORDS = new Set(['id', 'uuid', 'guid', 'key', 'slug', 'hash', 'sku', 'isbn']);
const LINK_WORDS = new Set(['url', 'uri', 'href', 'link', 'email', 'src', 'path', 'image', 'avatar']);
const DATA_VALUE =
  /^(?:[-+]?[\d.,]+%?|\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-][\d:]+)?)?|true|false|null|(?:https?|ftp):\/\/\S+|mailto:\S+|[^\s@]+@[^\s@]+\.\w+)$/i;

export const loadJson: FormatLoader = (bytes, fileName, options) => {
  const text = decodeText(bytes, fileName);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // A .json file holding JSON Lines is common enough to accept.
    if (text.trim().includes('\n')) {
      try {
        return fromRecords(parseJsonLines(text, fileName), fileName, options);
      } catch (linesError) {
        if (linesError instanceof RivuletError && linesError.code === 'DOCUMENT_TOO_COMPLEX')
          throw linesError;
        // else fall through to the JSON error, which is what the file claims to be
      }
    }
    const position = error instanceof Error ? /line (\d+) column (\d+)/.exec(error.message) : null;
    const where = position ? ` (line ${position[1]}, column ${position[2]})` : '';
    throw unreadable(fileName, `not valid JSON${where}`, error);
  }
  if (Array.isArray(value)) return fromRecords(value.map(asRecord), fileName, options);
  if (isObject(value)) {
    // An object with one array of records ({"items": [...]}): its other scalar fields describe the document.
    const arrays = Object.entries(value).filter(
      ([, v]) => Array.isArray(v) && v.length > 0 && v.every(isObject),
    );
    if (arrays.length === 1) {
      const [key, records] = arrays[0]! as [string, Fields[]];
      const rest = Object.fromEntries(
        Object.entries(value).filter(([k, v]) => k !== key && (v === null || typeof v !== 'object')),
      );
      const parts = fromRecords(records, fileName, options);
      const titleKey = pickTitleField(fieldStats([rest], fileName));
      return {
        ...parts,
        title: titleKey ? String(rest[titleKey]) : undefined,
        metadata: { ...rest, ...parts.metadata, recordsField: key },
      };
    }
  }
  return fromRecords([asRecord(value)], fileName, options);
};

export const loadJsonLines: FormatLoader = (bytes, fileName, options) =>
  fromRecords(parseJsonLines(decodeText(bytes, fileName), fileName), fileName, options);

export const loadCsv: FormatLoader = (bytes, fileName, options) => {
  const text = decodeText(bytes, fileName);
  const { delimiter, columns } = sniffDelimiter(text);
  if (columns > MAX_FIELDS) throw tooComplex(fileName, `more than ${MAX_FIELDS} columns`);
  let rows: Fields[];
  try {
    rows = parseCsv(text, {
      delimiter,
      columns: (header: string[]) => header.map((name, i) => name.trim() || `column${i + 1}`),
      skip_empty_lines: true,
      relax_column_count: true,
      trim: true,
    });
  } catch (error) {
    const line =
      error instanceof CsvError && typeof error.lines === 'number' ? ` (near line ${error.lines})` : '';
    throw unreadable(fileName, `not valid CSV${line}`, error);
  }
  return fromRecords(rows, fileName, options);
};

function parseJsonLines(text: string, fileName: string): Fields[] {
  const records: Fields[] = [];
  text.split('\n').forEach((line, index) => {
    if (!line.trim()) return;
    try {
      records.push(asRecord(JSON.parse(line)));
    } catch (error) {
      throw unreadable(fileName, `line ${index + 1} is not valid JSON`, error);
    }
  });
  return records;
}

/** The delimiter (comma, semicolon or tab) that occurs most in the header line, and the columns it makes there. */
function sniffDelimiter(text: string): { delimiter: string; columns: number } {
  const end = text.indexOf('\n');
  const header = text.slice(0, end < 0 ? undefined : end).replace(/"[^"]*"/g, '');
  const counts = [',', ';', '\t'].map((d) => [d, header.split(d).length] as const);
  const [delimiter, columns] = counts.reduce((best, next) => (next[1] > best[1] ? next : best));
  return { delimiter, columns };
}

function fromRecords(records: Fields[], fileName: string, options: LoadOptions): LoadedParts {
  if (records.length === 0) throw empty(fileName, 'no records');
  const flat = records.map((record) => flatten(record));
  const stats = fieldStats(flat, fileName);
  const titleField = options.titleField ?? pickTitleField(stats);
  const textFields = options.textFields ?? pickTextFields(stats, titleField);
  const textOrder = new Map(textFields.map((field, index) => [field, index]));
  const sections: ParsedSection[] = [];
  flat.forEach((record, index) => {
    // A record with fewer fields than there are text fields (sparse JSON) looks up its own fields, in text order.
    const keys = Object.keys(record);
    const present = (
      keys.length < textFields.length
        ? keys.filter((key) => textOrder.has(key)).sort((a, b) => textOrder.get(a)! - textOrder.get(b)!)
        : textFields
    ).filter((field) => !isBlank(record[field]));
    const text = present
      .map((field) => {
        const value = toText(record[field]);
        if (present.length === 1) return value;
        // A bullet list starts on the line after its field name, so its first item stays an item.
        return value.startsWith('- ') && value.includes('\n') ? `${field}:\n${value}` : `${field}: ${value}`;
      })
      .join('\n');
    if (!text.trim()) return;
    const title =
      titleField !== undefined && !isBlank(record[titleField]) ? toText(record[titleField]) : undefined;
    const metadata: Fields = { record: index + 1 };
    for (const [key, value] of Object.entries(record)) {
      if (!textOrder.has(key) && key !== titleField && !isBlank(value)) metadata[key] = value;
    }
    sections.push({ heading: title ? [title.replace(/\s+/g, ' ').trim()] : [], text, metadata });
  });
  if (sections.length === 0) {
    throw empty(fileName, `none of the records has text in ${textFields.join(', ') || 'a string field'}`);
  }
  return { sections, metadata: { records: records.length, textFields, titleField } };
}

/** What the field choices need to know about one field over all records, gathered in one pass. */
interface FieldStats {
  /** Every value is a string of at most 200 characters (or absent). */
  shortText: boolean;
  /** Some value is a non-blank string that does not look like data (a number, date, URL, address). */
  textual: boolean;
  /** Characters and count of the non-empty string values. */
  chars: number;
  strings: number;
}

/** Per-field statistics in first-seen field order; more than MAX_FIELDS distinct fields is refused. */
function fieldStats(records: Fields[], fileName: string): Map<string, FieldStats> {
  const stats = new Map<string, FieldStats>();
  for (const record of records) {
    for (const [key, value] of Object.entries(record)) {
      let field = stats.get(key);
      if (field === undefined) {
        if (stats.size >= MAX_FIELDS) throw tooComplex(fileName, `more than ${MAX_FIELDS} distinct fields`);
        field = { shortText: true, textual: false, chars: 0, strings: 0 };
        stats.set(key, field);
      }
      if (value !== undefined && !(typeof value === 'string' && value.length <= 200)) field.shortText = false;
      // A list of strings (steps, points, tags) counts as its entries' text.
      const text = typeof value === 'string' ? value : stringList(value);
      if (text === undefined || text === '') continue;
      field.chars += text.length;
      field.strings += 1;
      if (!field.textual) {
        const trimmed = text.trim();
        field.textual = trimmed !== '' && !DATA_VALUE.test(trimmed);
      }
    }
  }
  return stats;
}

/** The first field, in title > name > ... order, whose last word names a title and whose values are short text. */
function pickTitleField(stats: Map<string, FieldStats>): string | undefined {
  const keys = [...stats].filter(([, field]) => field.shortText).map(([key]) => key);
  for (const word of TITLE_WORDS) {
    const key = keys.find((k) => lastWord(k) === word);
    if (key) return key;
  }
  return undefined;
}

/** Prose-like string fields (average length at least PROSE_CHARS); when none, every textual string field. */
function pickTextFields(stats: Map<string, FieldStats>, titleField: string | undefined): string[] {
  const candidates = [...stats].filter(([key, field]) => {
    if (key === titleField || ID_WORDS.has(lastWord(key)) || LINK_WORDS.has(lastWord(key))) return false;
    return field.textual;
  });
  const prose = candidates.filter(([, field]) => field.chars / Math.max(1, field.strings) >= PROSE_CHARS);
  return (prose.length > 0 ? prose : candidates).map(([key]) => key);
}

/** Nested objects become dotted keys ("author.name") down to 8 levels; arrays and scalars stay as they are. */
function flatten(record: Fields, prefix = '', into: Fields = {}, depth = 0): Fields {
  for (const [key, value] of Object.entries(record)) {
    if (isObject(value) && depth < 8) flatten(value, `${prefix}${key}.`, into, depth + 1);
    else into[`${prefix}${key}`] = value;
  }
  return into;
}

/** "productName" -> "name", "author.email_address" -> "address", "ID" -> "id". */
function lastWord(key: string): string {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  return words.at(-1) ?? '';
}

/** The entries of an array of strings joined by spaces; undefined for anything else. */
function stringList(value: unknown): string | undefined {
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string'))
    return undefined;
  return value.join(' ');
}

function asRecord(value: unknown): Fields {
  return isObject(value) ? value : { value };
}

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isBlank(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

function toText(value: unknown): string {
  if (typeof value === 'string') return value.trim();
  if (Array.isArray(value) && value.every((v) => typeof v !== 'object' || v === null)) {
    const entries = value.map((v) =>
      typeof v === 'string' ? v.replace(/\s+/g, ' ').trim() : JSON.stringify(v),
    );
    // Steps or points stay one per line, so they are quoted and shown as a list; tags stay a comma list.
    if (entries.some((entry) => entry.length >= LIST_ENTRY_CHARS)) {
      return entries
        .filter((entry) => entry !== '')
        .map((entry) => `- ${entry}`)
        .join('\n');
    }
    return entries.join(', ');
  }
  return JSON.stringify(value);
}
