/**
 * `watchbell events`: prints the daemon's live events (GET /api/v1/events), one line each, until stopped.
 * A dropped connection is resumed with Last-Event-ID, so nothing recent is missed; `reset` says some was.
 */
import { request } from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { DEFAULT_URL } from './client.js';
import { printable } from './printable.js';
import { UsageError } from './usage-error.js';
import type { Parsed } from './verbs.js';

/** Runs the verb; resolves with 1 when the daemon refuses the stream (a bad token), else never (Ctrl-C ends it). */
export async function runEvents(args: Parsed): Promise<number> {
  const values = {
    url: args.text('url') ?? process.env.WATCHBELL_URL ?? DEFAULT_URL,
    token: args.text('token') ?? process.env.WATCHBELL_TOKEN ?? process.env.WATCHBELL_ADMIN_TOKEN,
    json: args.flag('json'),
    'last-event-id': args.text('last-event-id'),
  };
  let lastId = values['last-event-id'] ?? '';
  let retryMs = 2000;
  let warned = false;
  for (;;) {
    const outcome = await stream(values.url!, values.token, lastId, (m) => {
      if (m.id) lastId = m.id;
      process.stdout.write(values.json ? `${JSON.stringify({ id: m.id ?? null, type: m.event ?? 'message', data: parse(m.data) })}\n` : line(m));
    }, (ms) => (retryMs = ms));
    if (outcome.status !== undefined && outcome.status !== 200) {
      process.stderr.write(`watchbell: ${outcome.status}: ${outcome.message}\n`);
      return 1;
    }
    if (!warned || outcome.connected) process.stderr.write(`watchbell: ${outcome.connected ? 'stream ended' : `cannot reach the daemon at ${values.url}: ${outcome.message}`}; reconnecting...\n`);
    warned = !outcome.connected;
    await new Promise((r) => setTimeout(r, retryMs));
  }
}

interface Outcome {
  connected: boolean;
  status?: number;
  message: string;
}

function stream(base: string, token: string | undefined, lastId: string, onEvent: (m: EventSourceMessage) => void, onRetry: (ms: number) => void): Promise<Outcome> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (lastId) headers['last-event-id'] = lastId;
  let target: { socketPath: string } | { hostname: string; port: number };
  if (base.startsWith('unix:')) target = { socketPath: base.slice(5) };
  else {
    let u: URL;
    try {
      u = new URL(base);
    } catch {
      throw new UsageError(`--url ${base}: expected http://HOST:PORT or unix:/path`);
    }
    target = { hostname: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) };
  }
  return new Promise((resolve) => {
    const req = request({ ...target, path: '/api/v1/events', headers }, (res) => {
      res.setEncoding('utf8');
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ connected: false, status: res.statusCode, message: errorMessage(body) }));
        return;
      }
      const parser = createParser({ onEvent, onRetry });
      res.on('data', (chunk: string) => parser.feed(chunk));
      res.on('end', () => resolve({ connected: true, message: 'ended' }));
      res.on('error', (err) => resolve({ connected: true, message: err.message }));
    });
    req.on('error', (err) => resolve({ connected: false, message: err.message }));
    req.end();
  });
}

/** `12:03:04 execution.finished  backup  exec-...  failure` */
function line(m: EventSourceMessage): string {
  const d = parse(m.data) as { job_id?: string; execution?: { id: string; status: string }; reason?: string; added?: string[]; changed?: string[]; removed?: string[] } | null;
  const time = new Date().toISOString().slice(11, 19);
  const parts = [time, (m.event ?? 'message').padEnd(18)];
  if (d?.execution) parts.push(d.job_id ?? '', d.execution.id, d.execution.status);
  else if (d?.job_id) parts.push(d.job_id);
  else if (m.event === 'config.reloaded' && d) parts.push(`added ${d.added?.length ?? 0}, changed ${d.changed?.length ?? 0}, removed ${d.removed?.length ?? 0}`);
  else if (d?.reason) parts.push(d.reason);
  // Ids, reasons and event names come from the daemon: nothing in them may move the cursor or split the line.
  return `${printable(parts.join('  ').trimEnd())}\n`;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function errorMessage(body: string): string {
  try {
    return (JSON.parse(body) as { error: { message: string } }).error.message;
  } catch {
    return body;
  }
}
