/**
 * `GET /api/v1/events`: the core's events as server-sent events, for the dashboard and `watchbell events`.
 * Each event has an id; a reconnect that sends `Last-Event-ID` gets what it missed from a bounded buffer,
 * or a `reset` event when that is gone (the client then reloads what it shows). A client that does not read
 * is dropped once its unsent backlog passes a bound: it never grows the daemon's memory.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Context } from 'koa';
import type { Execution } from '../jobs/execution.js';
import type { Events } from '../jobs/events.js';
import type { JobView } from '../service/job-view.js';

/** The event types clients may see (docs/api.md, Live events). */
export type LiveEventType =
  | 'execution.queued' | 'execution.started' | 'execution.waiting' | 'execution.finished'
  | 'job.created' | 'job.changed' | 'job.deleted' | 'job.paused' | 'job.resumed'
  | 'config.reloaded' | 'reset';

interface Buffered {
  seq: number;
  /** The event as sent: `id:`, `event:` and `data:` lines and the blank line. */
  text: string;
}

export interface EventHubOptions {
  events: Events;
  /** The job's API view, sent with job events (null once deleted). */
  jobView(id: string): JobView | undefined;
  /** Events kept for resuming; whichever of the two bounds is reached first drops the oldest. */
  bufferEvents?: number;
  bufferBytes?: number;
  /** Unsent bytes a client may have pending before it is dropped. */
  maxBacklogBytes?: number;
  /** A comment line this often keeps proxies from closing an idle stream, and finds dead clients. */
  heartbeatMs?: number;
}

/** Counts shown by /health. */
export interface EventHubStatus {
  clients: number;
  /** Clients dropped because they did not keep up, since the daemon started. */
  dropped: number;
  last_id: string;
}

/** Fans the core's events out to SSE clients. */
export class EventHub {
  /** Ids are `<boot>-<n>`: an id from before a restart is recognised as too old, not mistaken for a recent one. */
  private readonly boot = randomBytes(4).toString('hex');
  private seq = 0;
  private readonly buffer: Buffered[] = [];
  private bufferHead = 0;
  private bufferedBytes = 0;
  private readonly clients = new Set<ServerResponse>();
  private dropped = 0;
  private readonly unsubscribe: Array<() => void>;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  private readonly maxBacklog: number;

  constructor(private readonly o: EventHubOptions) {
    this.maxEvents = o.bufferEvents ?? 1000;
    this.maxBytes = o.bufferBytes ?? 2 * 1024 * 1024;
    this.maxBacklog = o.maxBacklogBytes ?? 256 * 1024;
    const execution = (type: LiveEventType) => ({ execution: e }: { execution: Execution }) => this.publish(type, { job_id: e.job_id, execution: slim(e) });
    this.unsubscribe = [
      o.events.on('execution:queued', execution('execution.queued')),
      o.events.on('execution:started', execution('execution.started')),
      o.events.on('execution:waiting', execution('execution.waiting')),
      o.events.on('execution:finished', execution('execution.finished')),
      o.events.on('execution:skipped', execution('execution.finished')),
      o.events.on('job:changed', ({ jobId, change }) => this.publish(`job.${change}`, { job_id: jobId, job: change === 'deleted' ? null : (o.jobView(jobId) ?? null) })),
      o.events.on('config:reloaded', ({ trigger, jobs, added, changed, removed }) => this.publish('config.reloaded', { trigger, jobs, added: cap(added), changed: cap(changed), removed: cap(removed) })),
      // Jobs from container labels come and go without a reload: clients refresh as after one.
      o.events.on('labels:applied', ({ jobs, added, changed, removed }) => {
        if (added.length || changed.length || removed.length) this.publish('config.reloaded', { trigger: 'labels', jobs, added: cap(added), changed: cap(changed), removed: cap(removed) });
      }),
    ];
    this.heartbeat = setInterval(() => this.broadcast(': keep-alive\n\n'), o.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
  }

  /** Numbers for /health. */
  status(): EventHubStatus {
    return { clients: this.clients.size, dropped: this.dropped, last_id: this.id(this.seq) };
  }

  /** Serves one client: what it missed since `Last-Event-ID` (or `reset`), then live events until it leaves. */
  serve(ctx: Context): void {
    const res = ctx.res;
    // Koa must neither answer for us nor see a 404: the stream is written to `res` directly.
    ctx.status = 200;
    ctx.respond = false;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      // nginx would otherwise hold events back to fill its buffer.
      'X-Accel-Buffering': 'no',
    });
    ctx.req.socket.setNoDelay(true);
    ctx.req.socket.setTimeout(0);
    const lastId = ctx.get('last-event-id');
    let first = 'retry: 2000\n\n';
    if (lastId) {
      const missed = this.since(lastId);
      const reset = { reason: `the events after ${lastId} are no longer kept: reload what you show` };
      first += missed === null ? `id: ${this.id(this.seq)}\nevent: reset\ndata: ${JSON.stringify(reset)}\n\n` : missed.join('');
    }
    this.clients.add(res);
    res.once('close', () => this.clients.delete(res));
    this.send(res, first);
  }

  /** Ends every stream (the daemon is stopping) and stops listening to the core. */
  close(): void {
    clearInterval(this.heartbeat);
    for (const off of this.unsubscribe) off();
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private publish(type: string, data: unknown): void {
    const seq = ++this.seq;
    const text = `id: ${this.id(seq)}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
    this.buffer.push({ seq, text });
    this.bufferedBytes += text.length;
    while (this.buffer.length - this.bufferHead > this.maxEvents || (this.bufferedBytes > this.maxBytes && this.buffer.length - this.bufferHead > 1)) {
      this.bufferedBytes -= this.buffer[this.bufferHead++]!.text.length;
    }
    // Compacted now and then rather than shifted on every event.
    if (this.bufferHead > this.maxEvents) {
      this.buffer.splice(0, this.bufferHead);
      this.bufferHead = 0;
    }
    this.broadcast(text);
  }

  private broadcast(text: string): void {
    for (const res of this.clients) this.send(res, text);
  }

  /** Writes to one client, or drops it when what it has not taken yet passes the bound. */
  private send(res: ServerResponse, text: string): void {
    if (res.destroyed) return;
    // Checked before writing, so one large event never drops a client that keeps up.
    const backlog = res.writableLength + (res.socket?.writableLength ?? 0);
    if (backlog > this.maxBacklog) {
      this.dropped++;
      this.clients.delete(res);
      res.destroy();
      return;
    }
    res.write(text);
  }

  /** The buffered events after `lastId`, or null when some of them are no longer kept (or the id is not ours). */
  private since(lastId: string): string[] | null {
    const m = /^([0-9a-f]{8})-(\d{1,15})$/.exec(lastId.trim());
    if (!m || m[1] !== this.boot) return null;
    const after = Number(m[2]);
    if (after > this.seq) return null;
    if (after === this.seq) return [];
    const oldest = this.buffer[this.bufferHead]?.seq ?? this.seq + 1;
    if (after + 1 < oldest) return null;
    return this.buffer.slice(this.bufferHead + (after + 1 - oldest)).map((b) => b.text);
  }

  private id(seq: number): string {
    return `${this.boot}-${seq}`;
  }
}

/** An execution without its output tail: events tell what happened, the log route has the text. */
function slim(e: Execution): Omit<Execution, 'output'> {
  const { output: _output, ...rest } = e;
  return rest;
}

/** A reload of 100,000 jobs names the first 100 of each kind; clients reload the list anyway. */
function cap(ids: string[]): string[] {
  return ids.length > 100 ? ids.slice(0, 100) : ids;
}
