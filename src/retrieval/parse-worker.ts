// The parse process's entry: parses one file per message (parse-document.ts) and sends the outcome back. It runs as
// a child process with a heap limit, and the pool kills it when a parse outlives its time limit, so a hostile file
// can cost a parse process, never the server or its event loop.

import { parseDocument, type ParseRequest } from './parse-document.ts';

export interface WorkerRequest extends ParseRequest {
  id: number;
}

if (process.send === undefined)
  throw new Error('parse-worker.ts runs as a child process (see parser-pool.ts)');
process.on('message', (request: WorkerRequest) => {
  void parseDocument(request).then((outcome) => process.send?.({ id: request.id, ...outcome }));
});
// The server went away (killed, crashed): nothing is left to parse for.
process.on('disconnect', () => process.exit(0));
