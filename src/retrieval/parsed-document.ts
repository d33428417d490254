// What a file loader produces and the chunker consumes: a document as a list of sections under headings.

export interface ParsedSection {
  /** Heading path from the top ("Guide", "Install", "Linux"); empty for text before any heading. */
  heading: string[];
  /** The section's text: paragraphs separated by blank lines, lists and tables kept readable as text. */
  text: string;
  /** Per-record fields for JSON/CSV records (everything not used as text), else absent. */
  metadata?: Record<string, unknown>;
}

export interface ParsedDocument {
  /** The document's title: its first heading, <title>, PDF/DOCX metadata title, or the file name without extension. */
  title: string;
  /** MIME type of the original file. */
  mediaType: string;
  sections: ParsedSection[];
  /** Document-level metadata (PDF page count, author, JSON text fields used, ...). */
  metadata: Record<string, unknown>;
}

export interface LoadOptions {
  /**
   * For JSON/JSONL/CSV records: the fields whose values form the text (seed 002). When absent, string fields are
   * chosen automatically (the longest-valued ones; id-like and URL-like fields stay metadata).
   */
  textFields?: string[];
  /** For records: the field that names a record (becomes its heading), e.g. "title" or "name". */
  titleField?: string;
}
