/**
 * A LISTEN on one PostgreSQL channel, on a client of its own (a pooled connection cannot hold a LISTEN).
 * A connection that drops (a database restart) is made again, with backoff; what was notified meanwhile
 * is lost, so the caller also polls (cluster/work-queue.ts does at each heartbeat) and is told each time
 * the LISTEN is back.
 */
import type { Client } from 'pg';

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5_000;

export interface ListenerOptions {
  connectionString: string;
  channel: string;
  /** Called with each notification's payload. */
  onNotify(payload: string): void;
  /** Called each time the LISTEN is (again) in place: notifications may have been missed before it. */
  onListening(): void;
  /** Called when connecting or listening failed (tried again after a wait). */
  onError(err: unknown): void;
}

/** Keeps a LISTEN in place until close(). */
export class NotifyListener {
  private client: Client | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private wait = RETRY_MIN_MS;

  constructor(private readonly o: ListenerOptions) {}

  /** Starts listening; resolves once the first attempt has succeeded or failed. */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: this.o.connectionString, connectionTimeoutMillis: 5_000 });
    this.client = client;
    let dropped = false;
    const drop = (err: unknown) => {
      if (dropped) return;
      dropped = true;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (this.closed) return;
      this.o.onError(err);
      this.timer = setTimeout(() => void this.connect(), this.wait);
      this.wait = Math.min(RETRY_MAX_MS, this.wait * 2);
    };
    client.on('error', drop);
    client.on('end', () => drop(new Error('the LISTEN connection ended')));
    client.on('notification', (n) => this.o.onNotify(n.payload ?? ''));
    try {
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(this.o.channel)}`);
    } catch (err) {
      drop(err);
      return;
    }
    this.wait = RETRY_MIN_MS;
    this.o.onListening();
  }

  /** Stops listening and closes the client. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.client?.end().catch(() => undefined);
  }
}
