/** Client verbs (`jobs`, `run`, `pause`, `resume`, `logs`): talk to a running daemon over its API. */
import { request } from 'node:http';
import { parseFlags, UsageError } from './usage-error.js';

export const CLIENT_VERBS = ['jobs', 'run', 'pause', 'resume', 'logs'] as const;

interface Reply {
  status: number;
  body: string;
}

/** One HTTP request to the daemon, over TCP (`http://...`) or its unix socket (`unix:/path`). */
function call(base: string, token: string | undefined, method: string, path: string): Promise<Reply> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const target = base.startsWith('unix:') ? { socketPath: base.slice(5), path } : { ...urlParts(base), path };
  return new Promise((resolve, reject) => {
    const req = request({ ...target, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

function urlParts(base: string): { hostname: string; port: number } {
  try {
    const u = new URL(base);
    return { hostname: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) };
  } catch {
    throw new UsageError(`--url ${base}: expected http://HOST:PORT or unix:/path`);
  }
}

/** Runs a client verb; exit 0 on a 2xx answer, 1 otherwise (the API's message on stderr). */
export async function runClientVerb(verb: (typeof CLIENT_VERBS)[number], args: string[]): Promise<number> {
  const { values, positionals } = parseFlags({
    args,
    allowPositionals: true,
    options: {
      url: { type: 'string', default: process.env.WATCHBELL_URL ?? 'http://127.0.0.1:8080' },
      // WATCHBELL_ADMIN_TOKEN is the variable the image's config reads: `docker exec C watchbell jobs` just works.
      token: { type: 'string', default: process.env.WATCHBELL_TOKEN || process.env.WATCHBELL_ADMIN_TOKEN },
      status: { type: 'string' },
      tag: { type: 'string' },
      q: { type: 'string', short: 'q' },
      tail: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const id = positionals[0];
  if (verb !== 'jobs' && !id) throw new UsageError(`usage: watchbell ${verb} JOB_ID${verb === 'logs' ? ' [EXECUTION_ID] [--tail N]' : ''}`);
  const enc = encodeURIComponent;
  let method = 'GET';
  let path: string;
  if (verb === 'jobs') {
    const q = new URLSearchParams({ limit: '1000' });
    for (const k of ['status', 'tag', 'q'] as const) if (values[k]) q.set(k, values[k]!);
    path = `/api/v1/jobs?${q}`;
  } else if (verb === 'logs') {
    const tail = values.tail ? `tail=${enc(values.tail)}` : '';
    path = positionals[1]
      ? `/api/v1/jobs/${enc(id!)}/executions/${enc(positionals[1])}/log${tail ? `?${tail}` : ''}`
      : `/api/v1/jobs/${enc(id!)}/tail?n=${enc(values.tail ?? '100')}`;
  } else {
    method = 'POST';
    path = `/api/v1/jobs/${enc(id!)}/${verb}`;
  }
  let reply: Reply;
  try {
    reply = await call(values.url!, values.token, method, path);
  } catch (err) {
    process.stderr.write(`watchbell: cannot reach the daemon at ${values.url}: ${(err as Error).message}\n`);
    return 1;
  }
  if (reply.status >= 400) {
    let message = reply.body;
    try {
      message = (JSON.parse(reply.body) as { error: { message: string } }).error.message;
    } catch {
      // Not our error shape: show it as it came.
    }
    process.stderr.write(`watchbell: ${reply.status}: ${message}\n`);
    return 1;
  }
  process.stdout.write(render(verb, reply.body, values.json!));
  return 0;
}

function render(verb: string, body: string, json: boolean): string {
  if (verb === 'logs') return body;
  if (json) return body.endsWith('\n') ? body : `${body}\n`;
  const data = (JSON.parse(body) as { data: unknown }).data;
  if (verb === 'jobs') {
    const rows = (data as Array<Record<string, unknown>>).map((j) => [j.id, j.status, j.schedule, j.next_run ?? '-', (j.last_run as { status?: string } | null)?.status ?? '-']);
    return table([['ID', 'STATUS', 'SCHEDULE', 'NEXT RUN', 'LAST'], ...rows.map((r) => r.map(String))]);
  }
  const d = data as Record<string, unknown>;
  return `${d.message}${d.execution_id ? ` (execution ${d.execution_id})` : ''}${d.next_run ? ` (next run ${d.next_run})` : ''}\n`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

/** True for the verbs this module handles. */
export function isClientVerb(verb: string): verb is (typeof CLIENT_VERBS)[number] {
  return (CLIENT_VERBS as readonly string[]).includes(verb);
}
