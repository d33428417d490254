// The documents view: upload files (drop or pick) with a progress bar and a line per file, list and delete them.

import type { VNode } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { RivuletClient } from '../client/index.ts';
import {
  progressView,
  uploadDocuments,
  UploadError,
  type UploadProgress,
  type UploadSummary,
} from './upload.ts';

interface DocumentRow {
  id: string;
  source: string;
  title: string;
  chunkCount: number;
  bytes: number;
  updatedAt: number;
}

export function DocumentsView({ client, chatbotId }: { client: RivuletClient; chatbotId: string }): VNode {
  const [documents, setDocuments] = useState<DocumentRow[]>([]);
  const [totals, setTotals] = useState<{ total: number; chunks: number } | null>(null);
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const [summary, setSummary] = useState<UploadSummary | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const picker = useRef<HTMLInputElement>(null);

  const refresh = useCallback(() => {
    client
      .request(`/api/documents?chatbotId=${encodeURIComponent(chatbotId)}&limit=200`)
      .then(
        (response) => response.json() as Promise<{ documents: DocumentRow[]; total: number; chunks: number }>,
      )
      .then(
        (page) => {
          setDocuments(page.documents);
          setTotals({ total: page.total, chunks: page.chunks });
        },
        () => setError('The documents could not be listed.'),
      );
  }, [client, chatbotId]);
  useEffect(refresh, [refresh]);

  const upload = async (files: File[]): Promise<void> => {
    if (files.length === 0) return;
    setError(null);
    setSummary(null);
    setProgress({ sent: 0, done: 0, total: files.length, current: null, results: [] });
    try {
      setSummary(
        await uploadDocuments(client.baseUrl, files, {
          chatbotId,
          headers: await client.headers(),
          onProgress: setProgress,
        }),
      );
    } catch (failure) {
      setError(
        failure instanceof UploadError ? `${failure.message} (${failure.code})` : 'The upload failed.',
      );
    }
    setProgress(null);
    refresh();
  };

  const remove = async (id: string): Promise<void> => {
    await client
      .request(`/api/documents/${encodeURIComponent(id)}`, { method: 'DELETE' })
      .catch(() => undefined);
    refresh();
  };

  const view = progress === null ? null : progressView(progress);
  return (
    <section class="docs" aria-label="Documents">
      <div
        class={`docs-drop${dragging ? ' dragging' : ''}`}
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(event) => {
          event.preventDefault();
          setDragging(false);
          void upload([...(event.dataTransfer?.files ?? [])]);
        }}
      >
        <p>Drop files here (txt, md, html, json, jsonl, csv, pdf, docx) or</p>
        <button
          type="button"
          class="rv-button"
          onClick={() => picker.current?.click()}
          disabled={progress !== null}
        >
          Choose files
        </button>
        <input
          ref={picker}
          type="file"
          multiple
          hidden
          aria-label="Files to upload"
          onChange={(event) => {
            const input = event.target as HTMLInputElement;
            void upload([...(input.files ?? [])]);
            input.value = '';
          }}
        />
      </div>
      {view !== null ? (
        <div class="docs-progress">
          <progress max={100} value={view.percent} aria-label="Upload progress" aria-valuetext={view.label} />
          <span aria-live="polite">{view.label}</span>
        </div>
      ) : null}
      {error !== null ? (
        <p class="rv-error" role="alert">
          {error}
        </p>
      ) : null}
      {summary !== null ? (
        <div class="docs-summary" role="status">
          <p>
            {summary.added} added, {summary.updated} updated, {summary.unchanged} unchanged, {summary.failed}{' '}
            failed ({summary.chunks} chunks written).
          </p>
          <ul>
            {summary.results
              .filter((result) => result.status === 'failed')
              .map((result) => (
                <li key={result.source} class="rv-error">
                  {result.error?.message} <span class="rv-code-tag">{result.error?.code}</span>
                </li>
              ))}
          </ul>
        </div>
      ) : null}
      <h2>Documents{totals !== null ? ` (${totals.total}, ${totals.chunks} chunks)` : ''}</h2>
      <table class="docs-table">
        <thead>
          <tr>
            <th>Title</th>
            <th>Source</th>
            <th>Chunks</th>
            <th>Size</th>
            <th>
              <span class="rv-sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {documents.map((document) => (
            <tr key={document.id}>
              <td>{document.title}</td>
              <td>{document.source}</td>
              <td>{document.chunkCount}</td>
              <td>{formatBytes(document.bytes)}</td>
              <td>
                <button
                  type="button"
                  class="rv-link-button"
                  onClick={() => void remove(document.id)}
                  aria-label={`Delete ${document.title}`}
                >
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
