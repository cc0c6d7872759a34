/**
 * Reaches the node that runs an execution through that node's own API (its address in the nodes table),
 * with the caller's Authorization header: a GET of a log, its body handed on chunk by chunk, or the POST
 * of an advance. The nodes share one config, so the caller's token is valid there too.
 */
import { request, type IncomingMessage } from 'node:http';
import { httpStatus } from '../api/errors.js';
import { WatchbellError, type ErrorCode } from '../jobs/errors.js';

/** Waits for the other node's answer to begin (a live follow then runs as long as the execution). */
const CONNECT_TIMEOUT_MS = 5_000;

/** What is asked of the other node, and what for (named in a NODE_UNREACHABLE message). */
export interface NodeRequest {
  path: string;
  authorization: string | undefined;
  signal?: AbortSignal;
  /** A JSON body: sent as a POST; none: a GET. */
  body?: unknown;
  /** `for its log`, `to advance it`. */
  purpose?: string;
}

/**
 * The body of the answer of the node at `address` (`http://host:port` or `unix:/path`) to `r`. An error
 * answer becomes the same error here; no answer becomes NODE_UNREACHABLE.
 */
export async function fetchFromNode(node: string, address: string, r: NodeRequest): Promise<AsyncIterable<Buffer>> {
  const purpose = r.purpose ?? 'for its log';
  if (!address) throw unreachable(node, 'it has not recorded its API address yet', purpose);
  const { path, authorization, signal } = r;
  const target = address.startsWith('unix:') ? { socketPath: address.slice('unix:'.length), path } : { ...hostAndPort(address), path };
  const body = r.body === undefined ? undefined : JSON.stringify(r.body);
  const headers: Record<string, string> = authorization ? { authorization } : {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request({ ...target, method: body === undefined ? 'GET' : 'POST', headers, signal, timeout: CONNECT_TIMEOUT_MS }, resolve);
    req.once('timeout', () => req.destroy(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000}s`)));
    req.once('error', (err) => reject(unreachable(node, err.message, purpose)));
    req.end(body);
  });
  if (res.statusCode !== 200 && res.statusCode !== 202) throw await errorOf(node, res, purpose);
  // The timeout was for the answer to begin; a follow may be quiet for a long time.
  res.socket.setTimeout(0);
  return res;
}

function hostAndPort(address: string): { host: string; port: number } {
  const u = new URL(address);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
}

/** The other node's error answer as our error: its code and message, so the caller sees what a local read would say. */
async function errorOf(node: string, res: IncomingMessage, purpose: string): Promise<Error> {
  let text = '';
  for await (const chunk of res) text += String(chunk);
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    const code = body.error?.code;
    // A code this version does not know (a newer node's) is not passed on.
    if (code && body.error?.message && code !== 'INTERNAL' && httpStatus(code as ErrorCode) === res.statusCode) return new WatchbellError(code as ErrorCode, body.error.message);
  } catch {
    // not our error body
  }
  return unreachable(node, `it answered ${res.statusCode}`, purpose);
}

function unreachable(node: string, why: string, purpose: string): WatchbellError {
  return new WatchbellError('NODE_UNREACHABLE', `the execution runs on node ${node}, whose API could not be reached ${purpose} (${why}); try again, or once it has ended`);
}

