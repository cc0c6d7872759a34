/** HTTP requests with full control over method, path, headers (Host, Origin...) and body bytes, over TCP or a unix socket. */
import { request, type Agent, type IncomingHttpHeaders } from 'node:http';

export interface RawRequest {
  method: string;
  /** Path and query, sent as is (already encoded). */
  path: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Send the body chunked, without Content-Length. */
  chunked?: boolean;
}

export interface RawReply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** Where to send: a daemon's URL (`http://127.0.0.1:PORT` or `unix:/path`). */
export function target(url: string): { host?: string; port?: number; socketPath?: string } {
  if (url.startsWith('unix:')) return { socketPath: url.slice('unix:'.length) };
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
}

/**
 * Sends one request and reads the whole answer; rejects on a socket error. A request that meets a reset on a
 * kept-alive socket is sent again once: the server closed that idle socket as it was reused, before reading it.
 */
export async function rawRequest(url: string, req: RawRequest, agent?: Agent, timeoutMs = 30_000): Promise<RawReply> {
  try {
    return await sendOnce(url, req, agent, timeoutMs);
  } catch (err) {
    if ((err as { reusedSocket?: boolean }).reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET') return sendOnce(url, req, agent, timeoutMs);
    throw err;
  }
}

function sendOnce(url: string, req: RawRequest, agent: Agent | undefined, timeoutMs: number): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = { ...(req.headers ?? {}) };
    if (req.body !== undefined && !req.chunked && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
      headers['content-length'] = String(Buffer.byteLength(req.body));
    }
    // Said explicitly: Node's client sends GET, DELETE and OPTIONS bodies unframed unless told.
    if (req.body !== undefined && req.chunked) headers['transfer-encoding'] = 'chunked';
    let answered = false;
    const r = request({ ...target(url), method: req.method, path: req.path, headers, agent: agent ?? false, setHost: !hasHeader(headers, 'host') }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
      });
    });
    r.setTimeout(timeoutMs, () => r.destroy(new Error(`no answer within ${timeoutMs} ms: ${req.method} ${req.path}`)));
    r.on('error', (err) => {
      // A server that answers before reading the whole body (413, 401) closes the connection: writing the rest fails.
      if (!answered) reject(Object.assign(err, { reusedSocket: r.reusedSocket }));
    });
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}

function hasHeader(headers: Record<string, unknown>, name: string): boolean {
  return Object.keys(headers).some((h) => h.toLowerCase() === name);
}
