// The parse worker's entry: parses one file per message (parse-document.ts) and posts the outcome back. It runs in
// a worker thread with a heap limit, and the pool terminates it when a parse outlives its time limit, so a hostile
// file can cost a worker, never the server's event loop.

import { parentPort } from 'node:worker_threads';
import { parseDocument, type ParseRequest } from './parse-document.ts';

export interface WorkerRequest extends ParseRequest {
  id: number;
}

const port = parentPort;
if (port === null) throw new Error('parse-worker.ts runs as a worker thread (see parser-pool.ts)');
port.on('message', (request: WorkerRequest) => {
  void parseDocument(request).then((outcome) => port.postMessage({ id: request.id, ...outcome }));
});
