/**
 * `GET /api/v1/jobs/{id}/executions/{eid}/log?follow=true` with `Upgrade: websocket`: the same follow as
 * the chunked answer, one text message per piece of output, closed with code 1000 when the execution has
 * ended and its log is read to the end. Upgrades bypass Koa, so the API's guards (browser origin, Host,
 * token) are applied here, by the same functions.
 */
import type { IncomingMessage, Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Context } from 'koa';
import type { WebSocket, WebSocketServer } from 'ws';
import type { ApiToken } from '../config/settings.js';
import { isWatchbellError, WatchbellError } from '../jobs/errors.js';
import type { JobService } from '../service/job-service.js';
import { checkNotBrowser, checkToken } from './auth.js';
import { httpStatus } from './errors.js';

interface FollowTarget {
  jobId: string;
  executionId: string;
  stream: 'stdout' | 'stderr' | undefined;
  tail: number | undefined;
  step: string | undefined;
  /** Handed on when the execution runs on another node of a cluster, which reads it again. */
  authorization: string | undefined;
}

const LOG_PATH = /^\/api\/v1\/jobs\/([^/]+)\/executions\/([^/]+)\/log$/;

export interface LogWebSocketOptions {
  service: JobService;
  tokens(): ApiToken[];
  isStopping(): boolean;
  logError(err: unknown, info: { method: string; path: string }): void;
}

/** Answers WebSocket upgrades of log follows on `server`; returns a function that closes every open one. */
export function attachLogWebSocket(server: Server, o: LogWebSocketOptions): () => void {
  // ws is loaded at the first upgrade a client is allowed (most daemons never see one), not with the daemon.
  let wss: Promise<WebSocketServer> | undefined;
  let closed = false;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    let target: FollowTarget;
    try {
      target = checkRequest(req, o);
    } catch (err) {
      refuse(socket, err, req, o);
      return;
    }
    // Clients send nothing we read: a tiny payload limit keeps a hostile one from costing memory.
    wss ??= import('ws').then(({ WebSocketServer: Wss }) => new Wss({ noServer: true, maxPayload: 1024 }));
    wss.then(
      (w) => {
        if (closed || socket.destroyed) socket.destroy();
        else w.handleUpgrade(req, socket, head, (ws) => void follow(ws, target, o, req.url ?? ''));
      },
      (err: unknown) => refuse(socket, err, req, o),
    );
  });
  return () => {
    closed = true;
    void wss?.then(
      (w) => {
        for (const ws of w.clients) ws.close(1001, 'watchbell is shutting down');
        w.close();
      },
      () => undefined, // ws failed to load: each upgrade was refused with its error, nothing is open
    );
  };
}

function checkRequest(req: IncomingMessage, o: LogWebSocketOptions): FollowTarget {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const m = LOG_PATH.exec(url.pathname);
  if (!m || url.searchParams.get('follow') !== 'true') {
    throw new WatchbellError('ROUTE_NOT_FOUND', `no WebSocket at ${url.pathname}; only .../log?follow=true answers an upgrade`);
  }
  // checkNotBrowser and checkToken read headers and the socket through these few members of a Koa context.
  const headers = req.headers;
  const shim = {
    req,
    method: 'GET',
    path: url.pathname,
    state: {} as Record<string, unknown>,
    get: (name: string) => {
      const v = headers[name.toLowerCase()];
      return Array.isArray(v) ? v.join(', ') : (v ?? '');
    },
    set: () => undefined,
  } as unknown as Context;
  const tokens = o.tokens();
  checkNotBrowser(shim, tokens);
  checkToken(shim, tokens);
  const jobId = decodeURIComponent(m[1]!);
  const executionId = decodeURIComponent(m[2]!);
  o.service.execution(jobId, executionId);
  const stream = url.searchParams.get('stream');
  if (stream !== null && stream !== 'stdout' && stream !== 'stderr') {
    throw new WatchbellError('VALIDATION_FAILED', 'query parameter stream must be stdout or stderr');
  }
  const tailText = url.searchParams.get('tail');
  const tail = tailText === null ? undefined : Number(tailText);
  if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0 && tail <= 100_000)) {
    throw new WatchbellError('VALIDATION_FAILED', 'query parameter tail must be an integer from 0 to 100000');
  }
  const step = url.searchParams.get('step');
  // As the HTTP route's textParam: a step name is an id, at most 63 characters.
  if (step !== null && !(step.length > 0 && step.length <= 63)) {
    throw new WatchbellError('VALIDATION_FAILED', 'query parameter step must be a step name of 1 to 63 characters');
  }
  return { jobId, executionId, stream: stream === null ? undefined : stream, tail, step: step ?? undefined, authorization: headers.authorization };
}

/** An HTTP answer on the raw socket, in the API's error shape, then the socket is closed. */
function refuse(socket: Duplex, err: unknown, req: IncomingMessage, o: LogWebSocketOptions): void {
  let status = 500;
  let body: unknown = { error: { code: 'INTERNAL', message: 'internal error; the daemon log has the details' } };
  if (isWatchbellError(err)) {
    status = httpStatus(err.code);
    body = { error: { code: err.code, message: err.message } };
  } else if (err instanceof URIError) {
    status = 400;
    body = { error: { code: 'BAD_REQUEST', message: 'malformed escape in the path' } };
  } else o.logError(err, { method: 'GET', path: req.url ?? '' });
  const text = JSON.stringify(body);
  const auth = status === 401 ? 'WWW-Authenticate: Bearer realm="watchbell"\r\n' : '';
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n${auth}Connection: close\r\n\r\n${text}`,
  );
}

async function follow(
  ws: WebSocket,
  t: FollowTarget,
  o: LogWebSocketOptions,
  path: string,
): Promise<void> {
  const gone = new AbortController();
  ws.once('close', () => gone.abort());
  // Errors of the connection itself (a client's bad frame) only end it.
  ws.on('error', () => gone.abort());
  try {
    const chunks = await o.service.followLog(t.jobId, t.executionId, { stream: t.stream, tail: t.tail, step: t.step, signal: gone.signal, stopping: o.isStopping, authorization: t.authorization });
    // Text messages must be whole characters: the decoder keeps a character cut between two chunks for the next.
    const decoder = new StringDecoder('utf8');
    // One chunk at a time, each sent before the next is read: a slow client holds the follow, not memory.
    for await (const chunk of chunks) {
      if (gone.signal.aborted) break;
      const text = decoder.write(chunk);
      if (text) await send(ws, text);
    }
    const rest = decoder.end();
    if (rest && !gone.signal.aborted) await send(ws, rest);
    if (!gone.signal.aborted) ws.close(1000, 'execution ended');
  } catch (err) {
    if (gone.signal.aborted) return;
    // An answer rather than a bug (LOG_MISSING: the log file is gone): the close reason names its code.
    if (isWatchbellError(err) && httpStatus(err.code) < 500) {
      ws.close(1011, err.code);
      return;
    }
    o.logError(err, { method: 'GET', path });
    ws.close(1011, 'log follow failed');
  }
}

function send(ws: WebSocket, text: string): Promise<void> {
  return new Promise((resolve, reject) => ws.send(text, (err) => (err ? reject(err) : resolve())));
}
