/**
 * Follows the container engine for jobs declared by labels (`daemon.docker_labels: true`, see docker-labels.ts):
 * subscribes to the events of `watchbell.enabled=true` containers (start, die, destroy, rename), and after
 * each burst of them lists those containers again and applies their jobs as a diff, so jobs come and go with
 * their containers. A lost engine is retried with backoff (1 s doubling to 30 s); meanwhile the jobs it
 * declared stay as they were, and the first listing after the reconnect brings them up to date.
 */
import type { Events } from '../jobs/events.js';
import { jobsFromLabels, type LabelJob, type LabelledContainer } from './docker-labels.js';

/** What the source needs of the engine; run/container/label-engine.ts has the dockerode one. */
export interface LabelEngine {
  /** The engine's address, for messages. */
  readonly address: string;
  /** The running containers labelled `watchbell.enabled=true`. */
  list(): Promise<LabelledContainer[]>;
  /**
   * Subscribes to the events of such containers and calls `onChange` for each that may change their jobs.
   * Resolves once subscribed, with `ended`, which settles when the stream ends or fails.
   */
  follow(onChange: () => void, signal: AbortSignal): Promise<{ ended: Promise<void> }>;
}

/** The diff JobService.applyLabelJobs answers. */
export interface LabelApplyResult {
  added: string[];
  changed: string[];
  removed: string[];
  refused: Array<{ id: string; message: string }>;
}

export interface LabelSourceOptions {
  engine: LabelEngine;
  /** Default time zone of the jobs. */
  timezone: string;
  apply: (jobs: LabelJob[]) => Promise<LabelApplyResult>;
  events: Events;
  /** Backoff between reconnects; default 1 s doubling up to 30 s. */
  retryMs?: { min: number; max: number };
  /** Quiet time after an event before the containers are listed again: `compose up` starts several at once. */
  debounceMs?: number;
}

/** One per daemon with docker_labels on; start() and close() are idempotent. */
export class LabelSource {
  private readonly controller = new AbortController();
  private loop: Promise<void> | undefined;
  private syncing: Promise<void> = Promise.resolve();
  private debounce: NodeJS.Timeout | undefined;
  /** Problems already logged, so an unchanged bad label is not logged again at every event. */
  private reported = new Set<string>();

  constructor(private readonly o: LabelSourceOptions) {}

  /** Starts following the engine in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stops following; resolves once no listing or apply is in progress. */
  async close(): Promise<void> {
    this.controller.abort();
    clearTimeout(this.debounce);
    await this.loop;
    await this.syncing;
  }

  private get closed(): boolean {
    return this.controller.signal.aborted;
  }

  private async run(): Promise<void> {
    const { min, max } = this.o.retryMs ?? { min: 1000, max: 30_000 };
    let delay = min;
    while (!this.closed) {
      let error: unknown;
      try {
        const { ended } = await this.o.engine.follow(() => this.requestSync(), this.controller.signal);
        // Listed after subscribing, so a container that starts in between is seen by one or the other.
        await this.sync(true);
        this.o.events.emit('labels:engine', { state: 'connected', engine: this.o.engine.address, error: null, retryInMs: null });
        delay = min;
        await ended;
        error = new Error('the event stream ended');
      } catch (err) {
        error = err;
      }
      if (this.closed) return;
      this.o.events.emit('labels:engine', { state: 'lost', engine: this.o.engine.address, error: messageOf(error), retryInMs: delay });
      await abortableSleep(delay, this.controller.signal);
      delay = Math.min(delay * 2, max);
    }
  }

  private requestSync(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      // A failure here is followed by the stream's own end, which reconnects and lists again.
      this.sync(false).catch(() => undefined);
    }, this.o.debounceMs ?? 200);
  }

  /** Lists and applies, one at a time; `rethrow` hands a failure to the caller (the connect loop). */
  private sync(rethrow: boolean): Promise<void> {
    const next = this.syncing.then(() => (this.closed ? undefined : this.syncNow()));
    this.syncing = next.catch(() => undefined);
    return rethrow ? next : next.catch(() => undefined);
  }

  private async syncNow(): Promise<void> {
    const containers = await this.o.engine.list();
    const { jobs, problems } = jobsFromLabels(containers, { timezone: this.o.timezone });
    const result = await this.o.apply(jobs);
    const containerOf = new Map(jobs.map((j) => [j.id, j.container]));
    const all = [
      ...problems,
      ...result.refused.map((r) => ({ container: containerOf.get(r.id) ?? '', label: `watchbell.job.${r.id.slice(r.id.lastIndexOf('.') + 1)}`, message: r.message })),
    ];
    const now = new Set<string>();
    for (const p of all) {
      now.add(p.message);
      if (!this.reported.has(p.message)) this.o.events.emit('labels:invalid', p);
    }
    // Forgotten once fixed, so the same mistake made again is reported again.
    this.reported = now;
    if (result.added.length || result.changed.length || result.removed.length || result.refused.length) {
      this.o.events.emit('labels:applied', { jobs: jobs.length - result.refused.length, added: result.added, changed: result.changed, removed: result.removed, refused: result.refused.map((r) => r.id) });
    }
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
