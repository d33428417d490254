// Document upload with progress: the request body's bytes through XMLHttpRequest's upload events (fetch cannot
// report them), then each file's ingestion through the server's SSE progress frames as they arrive.

import { createSseParser } from '../client/sse-parser.ts';

export interface FileResult {
  source: string;
  status: 'added' | 'updated' | 'unchanged' | 'failed';
  chunks?: number;
  error?: { code: string; message: string };
}

export interface UploadSummary {
  added: number;
  updated: number;
  unchanged: number;
  failed: number;
  chunks: number;
  results: FileResult[];
  error?: { code: string; message: string };
}

export interface UploadProgress {
  /** 0..1 of the bytes sent. */
  sent: number;
  /** Files ingested so far, and how many were sent. */
  done: number;
  total: number;
  current: string | null;
  results: FileResult[];
}

/** What the progress bar and its line show: always the same figure, so the text and the bar agree. */
export interface ProgressView {
  /** 0..100: the bytes sent while sending, then the files ingested. */
  percent: number;
  label: string;
}

/**
 * Sending, the bar follows the bytes ("Sending… 40%" at 40%); then it starts over for ingestion and follows the files
 * ingested ("Ingesting b.md (1 of 2 done)" at 50%). (It used to blend both into one bar: 10% while the line said 40%.)
 */
export function progressView(progress: UploadProgress): ProgressView {
  if (progress.sent < 1) {
    const percent = Math.floor(progress.sent * 100);
    return { percent, label: `Sending… ${percent}%` };
  }
  const percent = progress.total === 0 ? 100 : Math.floor((progress.done / progress.total) * 100);
  const current = progress.current === null ? '' : ` ${progress.current}`;
  return { percent, label: `Ingesting${current} (${progress.done} of ${progress.total} done)` };
}

export function uploadDocuments(
  baseUrl: string,
  files: readonly File[],
  options: {
    chatbotId?: string;
    headers?: Record<string, string>;
    onProgress: (progress: UploadProgress) => void;
  },
): Promise<UploadSummary> {
  const form = new FormData();
  for (const file of files) form.append('file', file, file.name);
  const query = options.chatbotId === undefined ? '' : `?chatbotId=${encodeURIComponent(options.chatbotId)}`;
  const progress: UploadProgress = { sent: 0, done: 0, total: files.length, current: null, results: [] };
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const parser = createSseParser();
    let seen = 0;
    let summary: UploadSummary | undefined;
    let failure: { code: string; message: string } | undefined;
    xhr.open('POST', `${baseUrl}/api/documents${query}`);
    xhr.setRequestHeader('accept', 'text/event-stream');
    for (const [name, value] of Object.entries(options.headers ?? {})) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => {
      if (!event.lengthComputable) return;
      progress.sent = event.loaded / event.total;
      options.onProgress({ ...progress });
    };
    xhr.onprogress = () => {
      if (xhr.status !== 200) return;
      const fresh = xhr.responseText.slice(seen);
      seen = xhr.responseText.length;
      for (const frame of parser.push(fresh)) {
        const data = JSON.parse(frame.data) as Record<string, unknown>;
        if (frame.event === 'progress' && data.type === 'file-start') {
          progress.sent = 1;
          progress.current = String(data.source);
        } else if (frame.event === 'progress' && data.type === 'file-done') {
          progress.done++;
          progress.current = null;
          progress.results = [...progress.results, data.result as FileResult];
        } else if (frame.event === 'summary') summary = data as unknown as UploadSummary;
        else if (frame.event === 'error') failure = data as { code: string; message: string };
        options.onProgress({ ...progress });
      }
    };
    xhr.onload = () => {
      xhr.onprogress?.(new ProgressEvent('progress'));
      if (xhr.status !== 200) {
        const body = safeJson(xhr.responseText) as { error?: { code: string; message: string } } | undefined;
        reject(
          new UploadError(
            body?.error ?? { code: `HTTP_${xhr.status}`, message: `Upload failed (${xhr.status}).` },
          ),
        );
      } else if (summary !== undefined) resolve(summary);
      else
        reject(new UploadError(failure ?? { code: 'UPLOAD_INCOMPLETE', message: 'The upload ended early.' }));
    };
    xhr.onerror = () =>
      reject(new UploadError({ code: 'NETWORK_ERROR', message: 'The server could not be reached.' }));
    xhr.send(form);
  });
}

export class UploadError extends Error {
  readonly code: string;
  constructor(error: { code: string; message: string }) {
    super(error.message);
    this.code = error.code;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
