// The bytes of a streamed answer on the wire, read from a raw socket: HTTP/1.1 chunks whose sizes count UTF-8 bytes
// (frames are written to the socket directly, not through response.write), HTTP/1.0 without chunks, HEAD without a
// body, and a keep-alive connection that serves the next request after a stream.

import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { connectWs, isTerminalFrame } from '../helpers/ws-client.ts';

let server: TestServer;
/** Multi-byte characters of every UTF-8 length, so a chunk size counted in UTF-16 units would be wrong. */
const TOKENS = ['Río', ' café', ' ☕', ' 😀', ' naïve', ' 中文', ' end'];

beforeAll(async () => {
  server = await startTestServer({}, { tokens: TOKENS });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.upstream.reset();
  server.upstream.setScenario({ tokens: TOKENS });
});

interface RawResponse {
  statusLine: string;
  headers: Record<string, string>;
  /** The body after de-chunking (or as sent, without chunked encoding). */
  body: Buffer;
  /** The body's HTTP/1.1 chunks, one per socket write of the stream (none without chunked encoding). */
  chunks: Buffer[];
  /** Bytes left on the connection after the response, if it stayed open. */
  rest: Buffer;
}

/** Reads one HTTP response from the socket, checking every chunk's size line and CRLF strictly. */
function readResponse(socket: Socket, options: { head?: boolean } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const done = (response: RawResponse): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      resolve(response);
    };
    const tryParse = (ended: boolean): void => {
      const headEnd = buffer.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      const [statusLine = '', ...lines] = buffer.subarray(0, headEnd).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      let pos = headEnd + 4;
      if (options.head === true) {
        done({ statusLine, headers, body: Buffer.alloc(0), chunks: [], rest: buffer.subarray(pos) });
        return;
      }
      if (headers['transfer-encoding'] !== 'chunked') {
        if (ended)
          done({ statusLine, headers, body: buffer.subarray(pos), chunks: [], rest: Buffer.alloc(0) });
        return;
      }
      const pieces: Buffer[] = [];
      for (;;) {
        const lineEnd = buffer.indexOf('\r\n', pos);
        if (lineEnd === -1) return;
        const sizeText = buffer.subarray(pos, lineEnd).toString('latin1');
        if (!/^[0-9a-f]+$/.test(sizeText)) {
          reject(new Error(`bad chunk size line ${JSON.stringify(sizeText)}`));
          return;
        }
        const size = Number.parseInt(sizeText, 16);
        const dataStart = lineEnd + 2;
        if (buffer.length < dataStart + size + 2) return;
        if (buffer.subarray(dataStart + size, dataStart + size + 2).toString('latin1') !== '\r\n') {
          reject(new Error(`chunk of ${size} bytes not followed by CRLF`));
          return;
        }
        pos = dataStart + size + 2;
        if (size === 0) {
          done({
            statusLine,
            headers,
            body: Buffer.concat(pieces),
            chunks: pieces,
            rest: buffer.subarray(pos),
          });
          return;
        }
        pieces.push(buffer.subarray(dataStart, dataStart + size));
      }
    };
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      tryParse(false);
    };
    const onEnd = (): void => {
      tryParse(true);
      reject(new Error(`connection ended mid-response: ${buffer.toString('utf8').slice(0, 200)}`));
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', reject);
  });
}

function openSocket(url = server.url): Promise<Socket> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

function chatRequest(version: string, message: string, connection = 'keep-alive'): string {
  const body = JSON.stringify({ message });
  return (
    `POST /api/chat/stream ${version}\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: ${connection}\r\n\r\n${body}`
  );
}

/** The events of an SSE body, in order. */
function eventsOf(body: Buffer): Record<string, unknown>[] {
  return body
    .toString('utf8')
    .split('\n\n')
    .map((frame) => frame.split('\n').find((line) => line.startsWith('data: ')))
    .filter((line): line is string => line !== undefined)
    .map((line) => JSON.parse(line.slice('data: '.length)) as Record<string, unknown>);
}

/** The token text and terminal event of an SSE body. */
function answerOf(body: Buffer): { text: string; last: Record<string, unknown> | undefined } {
  const events = eventsOf(body);
  const text = events
    .filter((event) => event.type === 'token')
    .map((event) => event.text as string)
    .join('');
  return { text, last: events.at(-1) };
}

describe('streamed answers on the wire', () => {
  it('sends HTTP/1.1 chunks sized in UTF-8 bytes, then serves the next request on the same connection', async () => {
    const socket = await openSocket();
    try {
      socket.write(chatRequest('HTTP/1.1', 'first'));
      const first = await readResponse(socket);
      expect(first.statusLine).toBe('HTTP/1.1 200 OK');
      expect(first.headers['transfer-encoding']).toBe('chunked');
      const answer = answerOf(first.body);
      expect(answer.text).toBe(TOKENS.join(''));
      expect(answer.last).toMatchObject({ type: 'done', text: TOKENS.join('') });
      expect(first.rest.length).toBe(0);

      // The connection is still good: a second answer on it parses as strictly.
      socket.write(chatRequest('HTTP/1.1', 'second'));
      const second = await readResponse(socket);
      expect(answerOf(second.body).text).toBe(TOKENS.join(''));
    } finally {
      socket.destroy();
    }
  });

  it('sends an HTTP/1.0 client the frames without chunked encoding and closes', async () => {
    const socket = await openSocket();
    try {
      socket.write(chatRequest('HTTP/1.0', 'old client', 'close'));
      const response = await readResponse(socket);
      expect(response.statusLine).toMatch(/^HTTP\/1\.1 200/);
      expect(response.headers['transfer-encoding']).toBeUndefined();
      // The SSE frames as they are: no chunk size lines between them.
      expect(response.body.toString('utf8')).toMatch(
        /^retry: \d+\n\n(id: [^\n]+\nevent: [a-z-]+\ndata: [^\n]+\n\n)+$/,
      );
      const answer = answerOf(response.body);
      expect(answer.text).toBe(TOKENS.join(''));
      expect(answer.last).toMatchObject({ type: 'done' });
    } finally {
      socket.destroy();
    }
  });

  it('answers HEAD on a run stream with headers and no body', async () => {
    const started = await fetch(`${server.url}/api/chat/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'a run to look at' }),
    });
    const runId = started.headers.get('x-run-id');
    await started.text();
    expect(runId).toMatch(/^run_/);

    const socket = await openSocket();
    try {
      socket.write(
        `HEAD /api/runs/${runId}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: ${runId}:0\r\n\r\n`,
      );
      const head = await readResponse(socket, { head: true });
      expect(head.statusLine).toBe('HTTP/1.1 200 OK');
      expect(head.headers['content-type']).toMatch(/^text\/event-stream/);
      // Nothing follows the head: the same connection answers the next request from its first byte.
      socket.write(chatRequest('HTTP/1.1', 'after head'));
      const next = await readResponse(socket);
      expect(head.rest.length).toBe(0);
      expect(next.statusLine).toBe('HTTP/1.1 200 OK');
      expect(answerOf(next.body).text).toBe(TOKENS.join(''));
    } finally {
      socket.destroy();
    }
  });
});

describe('a stream after its first token (STREAM_WRITE_INTERVAL_MS)', () => {
  const PACED = Array.from({ length: 40 }, (_unused, index) => ` w${index}`);
  let paced: TestServer;
  beforeAll(async () => {
    paced = await startTestServer({ STREAM_WRITE_INTERVAL_MS: '60' }, { tokens: PACED, interTokenMs: 2 });
  });
  afterAll(async () => {
    await paced.close();
  });

  it('is written at most once an interval: the tokens of an interval in one chunk, each still its own event', async () => {
    const socket = await openSocket(paced.url);
    try {
      socket.write(chatRequest('HTTP/1.1', 'paced', 'close'));
      const response = await readResponse(socket);
      // Every token arrives, once, in order, each its own event with the next seq; the ending after them.
      const events = eventsOf(response.body);
      const tokens = events.filter((event) => event.type === 'token');
      expect(tokens.map((event) => event.text)).toEqual(PACED);
      const seqs = tokens.map((event) => event.seq as number);
      expect(seqs).toEqual(seqs.map((_seq, index) => seqs[0]! + index));
      expect(events.at(-1)).toMatchObject({ type: 'done', text: PACED.join('') });
      // 40 tokens 2 ms apart (80 ms, longer on a busy machine) in 60 ms intervals: a few writes, not 40. Each
      // chunk is one write of the stream.
      const tokenChunks = response.chunks.filter((chunk) => chunk.includes('event: token'));
      expect(tokenChunks.length).toBeLessThan(PACED.length / 4);
      // The interval's timer wrote them, not only the ending: a chunk of several tokens before the one with `done`.
      const tokensIn = (chunk: Buffer): number => chunk.toString('utf8').split('event: token').length - 1;
      const beforeEnding = response.chunks.slice(
        0,
        response.chunks.findIndex((chunk) => chunk.includes('event: done')),
      );
      expect(beforeEnding.some((chunk) => tokensIn(chunk) > 3)).toBe(true);
    } finally {
      socket.destroy();
    }
  });

  it('sends a WebSocket reader the messages of an interval in one socket write, each still its own message', async () => {
    // The socket writes the server makes on each connection (what reaches the kernel: one per _write or _writev).
    const writes = new Map<Socket, Buffer[][]>();
    const onConnection = (socket: Socket): void => {
      const calls: Buffer[][] = [];
      writes.set(socket, calls);
      const write = socket._write.bind(socket);
      const writev = socket._writev?.bind(socket);
      socket._write = (chunk: Buffer, encoding, callback) => {
        calls.push([Buffer.from(chunk)]);
        write(chunk, encoding, callback);
      };
      if (writev !== undefined) {
        socket._writev = (chunks, callback) => {
          calls.push(chunks.map(({ chunk }) => Buffer.from(chunk as Buffer)));
          writev(chunks, callback);
        };
      }
    };
    paced.app.server.server.on('connection', onConnection);
    const client = await connectWs(paced.url);
    try {
      client.send({ type: 'chat', message: 'paced over ws', requestId: 'w' });
      const accepted = await client.waitFor((frame) => frame.type === 'accepted');
      const runId = accepted.type === 'accepted' ? accepted.runId : '';
      await client.waitFor((frame) => isTerminalFrame(frame, runId));
      const tokens = client.frames.filter((frame) => frame.type === 'event' && frame.event.type === 'token');
      expect(
        tokens.map((frame) =>
          frame.type === 'event' && frame.event.type === 'token' ? frame.event.text : '',
        ),
      ).toEqual(PACED);
      // The connection's writes that carried tokens: a few, not one per token.
      const tokenWrites = [...writes.values()]
        .flat()
        .filter((pieces) => Buffer.concat(pieces).includes('"type":"token"'));
      expect(tokenWrites.length).toBeGreaterThan(0);
      expect(tokenWrites.length).toBeLessThan(PACED.length / 4);
    } finally {
      paced.app.server.server.off('connection', onConnection);
      client.socket.close();
    }
  });
});
