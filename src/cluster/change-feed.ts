/**
 * The listening side of the cluster's change feed: a dedicated connection (LISTEN holds it) that hears the
 * triggers' notifications of changed rows (migration 0004) and the cancels meant for this node. Other
 * writers' changes are queued and handed on in batches, one batch at a time, so rows are fetched in the
 * order they changed. The connection reconnects with backoff; since notifications sent while it was away are
 * lost, each (re)connect is followed by a resync (apply-changes.ts) before any further batch.
 */
import type { Logger } from 'pino';
import type { Client, Notification } from 'pg';
import type { StoreUrl } from '../config/store-url.js';
import { parseCancel, type CancelSignal } from './cancel-signal.js';
import { cancelChannel, changeChannel } from './channels.js';

/** A row another writer changed: a job's definition or state, or an execution. */
export type Change = { kind: 'job' | 'state'; job: string } | { kind: 'exec'; job: string; execution: string };

export interface FeedHandlers {
  /** Fetches and applies changed rows; resolves with those to fetch again; a rejection puts the batch back, to be tried again. */
  apply(changes: Change[]): Promise<Change[]>;
  /** After each (re)connect: reads again what may have changed since `sinceMs` (epoch ms), unheard; resolves with changes to fetch again. */
  resync(sinceMs: number): Promise<Change[]>;
  /** A cancel for an execution this node runs. */
  cancel(signal: CancelSignal): void;
  log: Logger;
}

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5_000;

/** The change feed of one node; start() resolves once it listens and has resynced. */
export class ChangeFeed {
  private client: Client | undefined;
  private readonly pending = new Map<string, Change>();
  /** Batches, resyncs and reconnects, one at a time. */
  private work: Promise<void> = Promise.resolve();
  private draining = false;
  /** Epoch ms when the feed was last known to hear everything (a notification, or a connect). */
  private heardAt: number;
  private closed = false;
  private reconnecting = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: StoreUrl,
    /** This node's store's application_name: its own writes are not applied again. */
    private readonly origin: string,
    private readonly node: string,
    private readonly h: FeedHandlers,
    /** When the store read its memory: changes from then on may be unheard at the first start. */
    openedAt: number,
  ) {
    this.heardAt = openedAt;
  }

  async start(): Promise<void> {
    await this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.drainTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
    await this.work.catch(() => undefined);
  }

  /** Connects, listens, then resyncs from the last moment the feed was known to hear everything. */
  private async connect(): Promise<void> {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: this.url.connectionString, application_name: `${this.origin}-feed`, keepAlive: true });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (n) => this.heard(n));
    const since = this.heardAt;
    await client.connect();
    try {
      await client.query(`LISTEN "${changeChannel(this.url.schema)}"`);
      await client.query(`LISTEN "${cancelChannel(this.url.schema)}"`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
    this.heardAt = Date.now();
    try {
      await this.serially(async () => this.queue(await this.h.resync(since)));
    } catch (err) {
      // Listening but not caught up: dropped, and the next connect resyncs from the same moment.
      this.client = undefined;
      this.heardAt = since;
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  private lost(client: Client): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    void client.end().catch(() => undefined);
    this.h.log.warn({ event: 'cluster.feed_lost', node: this.node }, 'the change feed lost its database connection; reconnecting (what changed meanwhile is read again)');
    this.reconnect(RECONNECT_MIN_MS);
  }

  private reconnect(waitMs: number): void {
    if (this.closed || this.reconnecting) return;
    this.reconnecting = true;
    this.retryTimer = setTimeout(() => {
      this.connect().then(
        () => {
          this.reconnecting = false;
          // Lost again while it resynced: once more.
          if (!this.client) this.reconnect(RECONNECT_MIN_MS);
          else this.h.log.info({ event: 'cluster.feed_back', node: this.node }, 'the change feed listens again');
        },
        () => {
          this.reconnecting = false;
          this.reconnect(Math.min(RECONNECT_MAX_MS, waitMs * 2));
        },
      );
    }, waitMs);
  }

  private heard(n: Notification): void {
    this.heardAt = Date.now();
    if (!n.payload) return;
    if (n.channel.startsWith('watchbell_cancel_')) {
      const signal = parseCancel(n.payload);
      if (signal?.node === this.node) this.h.cancel(signal);
      return;
    }
    let p: { t?: unknown; j?: unknown; e?: unknown; o?: unknown };
    try {
      p = JSON.parse(n.payload) as typeof p;
    } catch {
      return;
    }
    // This node's store already holds what it wrote.
    if (p.o === this.origin || typeof p.j !== 'string') return;
    if (p.t === 'exec' && typeof p.e === 'string') this.queue([{ kind: 'exec', job: p.j, execution: p.e }]);
    else if (p.t === 'job' || p.t === 'state') this.queue([{ kind: p.t, job: p.j }]);
  }

  /** Adds changes to fetch; the changes of one turn (a group commit's) go as one batch. */
  private queue(changes: Change[]): void {
    for (const c of changes) this.pending.set(keyOf(c), c);
    if (this.pending.size > 0 && !this.draining) {
      this.draining = true;
      setImmediate(() => void this.serially(() => this.drain()));
    }
  }

  private async drain(): Promise<void> {
    this.draining = false;
    while (this.pending.size > 0 && !this.closed) {
      const batch = [...this.pending.entries()];
      this.pending.clear();
      try {
        const again = await this.h.apply(batch.map(([, c]) => c));
        for (const c of again) this.pending.set(keyOf(c), c);
      } catch (err) {
        // Put back (newer notifications of the same rows stay as they are) and tried again shortly.
        for (const [k, c] of batch) if (!this.pending.has(k)) this.pending.set(k, c);
        this.h.log.warn({ event: 'cluster.feed_apply_failed', err }, 'reading changes of other nodes failed; trying again');
        this.draining = true;
        this.drainTimer = setTimeout(() => void this.serially(() => this.drain()), RECONNECT_MIN_MS * 4);
        return;
      }
    }
  }

  private serially(fn: () => Promise<void>): Promise<void> {
    const run = this.work.catch(() => undefined).then(fn);
    this.work = run.catch(() => undefined);
    return run;
  }
}

/** One pending entry per row: a row changed twice before it is fetched is fetched once. */
function keyOf(c: Change): string {
  return c.kind === 'exec' ? `exec\0${c.job}\0${c.execution}` : `${c.kind}\0${c.job}`;
}
