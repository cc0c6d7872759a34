/** The client verbs' side of the API: requests to a running daemon over TCP (`http://...`) or its unix socket (`unix:/path`). */
import { request, type IncomingMessage } from 'node:http';
import { UsageError } from './usage-error.js';

/** Where the daemon is when neither --url nor WATCHBELL_URL says. */
export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** A failure the CLI reports in one line and exits 1 for: an error answer, or no daemon to ask. */
export class ClientError extends Error {
  override readonly name = 'ClientError';
}

/** The daemon the flags (or WATCHBELL_URL and WATCHBELL_TOKEN) point at. */
export function clientOf(values: { url?: string; token?: string }): Client {
  // WATCHBELL_ADMIN_TOKEN is the variable the image's config reads: `docker exec C watchbell jobs` just works.
  const token = values.token ?? (process.env.WATCHBELL_TOKEN || process.env.WATCHBELL_ADMIN_TOKEN);
  return new Client(values.url ?? process.env.WATCHBELL_URL ?? DEFAULT_URL, token);
}

/** One daemon's API. */
export class Client {
  private readonly target: { socketPath: string } | { hostname: string; port: number };

  constructor(
    readonly url: string,
    private readonly token: string | undefined,
  ) {
    this.target = url.startsWith('unix:') ? { socketPath: url.slice('unix:'.length) } : urlParts(url);
  }

  /** `data` of a JSON answer, with `pagination` when there is one; throws ClientError for an error answer. */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<{ data: T; pagination?: { total: number }; headers: IncomingMessage['headers'] }> {
    const res = await this.send(method, path, body);
    const text = await readAll(res);
    if ((res.statusCode ?? 0) >= 400) throw failure(res.statusCode ?? 0, text);
    const answer = JSON.parse(text) as { data: T; pagination?: { total: number } };
    return { ...answer, headers: res.headers };
  }

  /** A text answer (a log), written to `out` as it arrives; throws ClientError for an error answer. */
  async pipe(path: string, out: NodeJS.WritableStream): Promise<IncomingMessage['headers']> {
    const res = await this.send('GET', path);
    if ((res.statusCode ?? 0) >= 400) throw failure(res.statusCode ?? 0, await readAll(res));
    for await (const chunk of res) out.write(chunk as Buffer);
    return res.headers;
  }

  private send(method: string, path: string, body?: unknown): Promise<IncomingMessage> {
    const headers: Record<string, string> = this.token ? { authorization: `Bearer ${this.token}` } : {};
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) headers['content-type'] = 'application/json';
    return new Promise((resolve, reject) => {
      const req = request({ ...this.target, path, method, headers }, resolve);
      req.on('error', (err) => reject(new ClientError(`cannot reach the daemon at ${this.url}: ${err.message}`)));
      req.end(payload);
    });
  }
}

function urlParts(base: string): { hostname: string; port: number } {
  try {
    const u = new URL(base);
    if (u.protocol !== 'http:') throw new Error('not http');
    return { hostname: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) };
  } catch {
    throw new UsageError(`--url ${base}: expected http://HOST:PORT or unix:/path`);
  }
}

async function readAll(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `STATUS: message` from an error answer (the API's message when it is ours, else the body as it came). */
function failure(status: number, text: string): ClientError {
  let message = text;
  try {
    message = (JSON.parse(text) as { error: { message: string } }).error.message;
  } catch {
    // Not our error shape: show it as it came.
  }
  return new ClientError(`${status}: ${message}`);
}
