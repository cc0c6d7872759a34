/**
 * When a due slot could not be recorded (the store unavailable: a PostgreSQL restart, a network cut),
 * the store is probed with backoff, and once it answers again the catch-up rules run as after a
 * restart: the newest missed slot runs once (`catch_up: latest`, within `starting_deadline`).
 */
import type { Logger } from 'pino';
import type { Events } from '../jobs/events.js';

const FIRST_PROBE_MS = 500;
const MAX_PROBE_MS = 15_000;

export interface StoreReturnOptions {
  events: Events;
  /** True when the store takes writes now. */
  isWritable: () => Promise<boolean>;
  /** Runs the catch-up rules (JobService.catchUp). */
  onReturn: () => void;
  log: Logger;
  /** The store as it may be shown (no password). */
  where: string;
}

export class StoreReturnWatch {
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private closed = false;
  private readonly unsubscribe: () => void;

  constructor(private readonly o: StoreReturnOptions) {
    this.unsubscribe = o.events.on('schedule:missed', ({ reason }) => {
      if (reason === 'store_unavailable') this.arm(FIRST_PROBE_MS);
    });
  }

  /** Stops probing; idempotent. */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    clearTimeout(this.timer);
  }

  private arm(delay: number): void {
    if (this.closed || this.probing || this.timer) return;
    if (delay === FIRST_PROBE_MS) this.o.log.warn({ event: 'store.down', store: this.o.where }, `the store ${this.o.where} cannot record runs; probing until it is back`);
    this.timer = setTimeout(() => void this.probe(delay), delay);
  }

  private async probe(delay: number): Promise<void> {
    this.timer = undefined;
    this.probing = true;
    const back = await this.o.isWritable().catch(() => false);
    this.probing = false;
    if (this.closed) return;
    if (!back) return this.arm(Math.min(MAX_PROBE_MS, delay * 2));
    this.o.log.info({ event: 'store.up', store: this.o.where }, `the store ${this.o.where} is back; applying catch_up to the slots missed meanwhile`);
    this.o.onReturn();
  }
}
