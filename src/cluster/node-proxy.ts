/**
 * Reads a log from the node that runs its execution: a GET of that node's own API (its address in the
 * nodes table), with the caller's Authorization header, its body handed on chunk by chunk. The nodes share
 * one config, so the caller's token is valid there too.
 */
import { request, type IncomingMessage } from 'node:http';
import { httpStatus } from '../api/errors.js';
import { WatchbellError, type ErrorCode } from '../jobs/errors.js';

/** Waits for the other node's answer to begin (a live follow then runs as long as the execution). */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * The body of GET `path` on the node at `address` (`http://host:port` or `unix:/path`). An error answer
 * becomes the same error here; no answer becomes NODE_UNREACHABLE.
 */
export async function fetchFromNode(node: string, address: string, path: string, authorization: string | undefined, signal?: AbortSignal): Promise<AsyncIterable<Buffer>> {
  if (!address) throw unreachable(node, 'it has not recorded its API address yet');
  const target = address.startsWith('unix:') ? { socketPath: address.slice('unix:'.length), path } : { ...hostAndPort(address), path };
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request({ ...target, method: 'GET', headers: authorization ? { authorization } : {}, signal, timeout: CONNECT_TIMEOUT_MS }, resolve);
    req.once('timeout', () => req.destroy(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000}s`)));
    req.once('error', (err) => reject(unreachable(node, err.message)));
    req.end();
  });
  if (res.statusCode !== 200) throw await errorOf(node, res);
  // The timeout was for the answer to begin; a follow may be quiet for a long time.
  res.socket.setTimeout(0);
  return res;
}

function hostAndPort(address: string): { host: string; port: number } {
  const u = new URL(address);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
}

/** The other node's error answer as our error: its code and message, so the caller sees what a local read would say. */
async function errorOf(node: string, res: IncomingMessage): Promise<Error> {
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
  return unreachable(node, `it answered ${res.statusCode}`);
}

function unreachable(node: string, why: string): WatchbellError {
  return new WatchbellError('NODE_UNREACHABLE', `the execution runs on node ${node}, whose API could not be reached for its log (${why}); try again, or once it has ended`);
}

