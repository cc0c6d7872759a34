/**
 * One notifier's queue: notifications go out one at a time, in order, with retries and backoff, away from
 * the job that caused them. Bounded: a target that is down or slow holds at most `maxPending` notifications,
 * and the oldest are dropped first (the newest news matter most), so memory never grows without limit.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Events, NotifyAttempt } from '../jobs/events.js';
import type { NotifierConfig } from './notifier-config.js';
import type { Notification } from './notification.js';
import type { Sender, SendResult } from './sender.js';

/** A notifier ready to deliver: its config, its channel, and how to mask its secrets in a text. */
export interface Target {
  config: NotifierConfig;
  sender: Sender;
  /** The text with the notifier's secrets (URL, secret, password, header values) replaced by `******`. */
  redact(text: string): string;
}

/** The last failed attempt of a notifier, as /health shows it. */
export interface DeliveryError {
  at: string;
  code: string;
  status: number | null;
  message: string;
  event: string;
  job_id: string;
  execution_id: string;
}

export interface QueueStats {
  /** Waiting, plus the one being delivered. */
  queued: number;
  sent: number;
  failed: number;
  dropped: number;
  last_sent_at: string | null;
  last_error: DeliveryError | null;
}

export interface QueueOptions {
  events: Events;
  /** Notifications waiting at most. */
  maxPending: number;
  /** Milliseconds to wait after failed attempt `attempt` (1-based) before the next. */
  backoffMs(attempt: number): number;
  /** Aborted when the daemon begins to stop: no further retries, but what waits still gets its first attempt. */
  draining: AbortSignal;
  /** Aborted when the stop's grace is over: attempts under way are cut, and what waits is dropped. */
  signal: AbortSignal;
}

/** Delivers one notifier's notifications in order; never throws into the caller, never blocks it. */
export class DeliveryQueue {
  private readonly pending: Notification[] = [];
  private current: Notification | undefined;
  private running: Promise<void> | undefined;
  private retired = false;
  private readonly stats = { sent: 0, failed: 0, dropped: 0, lastSentAt: null as string | null, lastError: null as DeliveryError | null };

  constructor(
    private target: Target,
    private readonly o: QueueOptions,
  ) {}

  /** The notifier's config as the queue now delivers to it. */
  get config(): NotifierConfig {
    return this.target.config;
  }

  /** Queues a notification; returns at once. */
  push(n: Notification): void {
    if (this.pending.length >= this.o.maxPending) {
      this.drop(this.pending.shift()!, 'QUEUE_FULL', `the queue of ${this.o.maxPending} notifications waiting for ${this.target.config.name} is full; the oldest is dropped`);
    }
    this.pending.push(n);
    this.running ??= this.run();
  }

  /** Sends further attempts to a changed notifier (a reload); its last error belonged to the old one. */
  retarget(target: Target): void {
    this.target = target;
    this.stats.lastError = null;
  }

  /** The notifier is gone (a reload removed it): what waits is dropped; an attempt under way finishes, without retries. */
  retire(): void {
    this.retired = true;
    for (const n of this.pending.splice(0)) this.drop(n, 'NOTIFIER_REMOVED', `notifier ${this.target.config.name} was removed from the config`);
  }

  /** Resolves once nothing waits or is being delivered. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Counters and the last error, for /health. */
  status(): QueueStats {
    const s = this.stats;
    return { queued: this.pending.length + (this.current ? 1 : 0), sent: s.sent, failed: s.failed, dropped: s.dropped, last_sent_at: s.lastSentAt, last_error: s.lastError };
  }

  private async run(): Promise<void> {
    for (let n = this.pending.shift(); n; n = this.pending.shift()) {
      this.current = n;
      try {
        await this.deliver(n);
      } catch (error) {
        // A bug in a sender must not stop the queue: the rest still go out.
        this.o.events.emit('error', { where: `delivering a notification to ${this.target.config.name}`, error });
      } finally {
        this.current = undefined;
      }
    }
    // Cleared in the same step that found the queue empty, so a push from now on starts a new run.
    this.running = undefined;
  }

  private async deliver(n: Notification): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.o.signal.aborted) return this.drop(n, 'SHUTDOWN', 'the daemon stopped before it could be sent');
      const target = this.target;
      const started = performance.now();
      const result = await target.sender.send(n, this.o.signal);
      const durationMs = Math.round(performance.now() - started);
      if (result.ok) {
        this.stats.sent++;
        this.stats.lastSentAt = new Date().toISOString();
        this.emit(n, target, { attempt, outcome: 'sent', durationMs, status: result.status, code: null, error: null, retryInMs: null });
        return;
      }
      const last = !result.retryable || attempt > target.config.retries || this.o.draining.aborted || this.retired;
      const retryInMs = last ? null : Math.max(this.o.backoffMs(attempt), result.retryAfterMs ?? 0);
      const error = target.redact(result.error);
      this.remember(n, result, error);
      this.emit(n, target, { attempt, outcome: last ? 'failed' : 'retry', durationMs, status: result.status, code: result.code, error, retryInMs });
      if (last) {
        this.stats.failed++;
        return;
      }
      try {
        await sleep(retryInMs!, undefined, { signal: this.o.draining });
      } catch {
        return this.drop(n, 'SHUTDOWN', 'the daemon stopped while it waited to retry');
      }
    }
  }

  private remember(n: Notification, result: Extract<SendResult, { ok: false }>, message: string): void {
    this.stats.lastError = {
      at: new Date().toISOString(), code: result.code, status: result.status, message,
      event: n.event, job_id: n.execution.job_id, execution_id: n.execution.id,
    };
  }

  private drop(n: Notification, code: string, error: string): void {
    this.stats.dropped++;
    this.emit(n, this.target, { attempt: 0, outcome: 'dropped', durationMs: 0, status: null, code, error, retryInMs: null });
  }

  private emit(n: Notification, target: Target, a: Pick<NotifyAttempt, 'attempt' | 'outcome' | 'durationMs' | 'status' | 'code' | 'error' | 'retryInMs'>): void {
    this.o.events.emit('notify:attempt', {
      notifier: target.config.name, kind: target.sender.kind, event: n.event, jobId: n.execution.job_id, executionId: n.execution.id, ...a,
    });
  }
}
