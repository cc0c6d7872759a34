/**
 * Turns finished and skipped executions into notifications for the notifiers their job's `notify:` names, and
 * hands each to that notifier's queue. It only listens to events and queues: a slow or dead target never
 * delays a job, its next run, or another notifier.
 */
import { randomUUID } from 'node:crypto';
import type { Events } from '../jobs/events.js';
import type { Execution } from '../jobs/execution.js';
import type { NotifyEvent, NotifyRule } from '../jobs/notify-rule.js';
import { redactSecrets } from '../jobs/redact.js';
import type { JobView } from '../service/job-view.js';
import { emailSender } from './email.js';
import { DeliveryQueue, type QueueStats, type Target } from './delivery-queue.js';
import { describeTarget, secretsOf, type NotifierConfig } from './notifier-config.js';
import { eventFor, linksFor, type Notification } from './notification.js';
import { RecoveryTracker } from './recovery.js';
import type { Sender } from './sender.js';
import { webhookSender } from './webhook.js';

export interface DispatcherOptions {
  events: Events;
  notifiers: Record<string, NotifierConfig>;
  /** The job as the API shows it, or undefined when it is gone. */
  job(id: string): JobView | undefined;
  /**
   * The job's `notify:` rules, read without building its view: in a storm of 10,000 skipped runs a second
   * most jobs notify nobody, and building each one's view cost more than recording the run. Default: from job().
   */
  rules?(id: string): readonly NotifyRule[];
  /** The job's newest finished execution created before `e` (from the store), for `recovered` after a restart. */
  previous(e: Execution): Execution | undefined;
  /** `daemon.public_url`: links in chat and mail; null for none. */
  publicUrl: string | null;
  /** Sent as User-Agent by webhooks. */
  userAgent: string;
  /** Notifications waiting per notifier at most (default 100). */
  maxPending?: number;
  /** Milliseconds before retry `attempt` (default 1 s, doubling, at most 30 s). */
  backoffMs?(attempt: number): number;
  /** Other secrets of the config (API tokens), masked in delivery errors with every notifier's own. */
  secrets?(): readonly string[];
  /** The channel for a notifier (default: email through SMTP, else a webhook); tests put fakes here. */
  sender?(config: NotifierConfig): Sender;
}

/** A notifier in /health: where it delivers (secrets never shown), its counters and its last error. */
export interface NotifierStatus extends QueueStats {
  type: NotifierConfig['type'];
  format?: 'json' | 'slack';
  target: string;
}

/** Notifications waiting per notifier at most: about 100 x 10 KB, whatever happens to the target. */
export const MAX_PENDING = 100;

/** How long queued notifications may still take to go out when the daemon stops. */
export const SHUTDOWN_GRACE_MS = 5000;

/** 1 s, 2 s, 4 s, ... at most 30 s: quick for a blip, patient for a restart of the receiver. */
export function defaultBackoffMs(attempt: number): number {
  return Math.min(1000 * 2 ** (attempt - 1), 30_000);
}

/** Listens for ended executions and queues their notifications, one queue per notifier; start at once, close() on stop. */
export class Dispatcher {
  private readonly queues = new Map<string, DeliveryQueue>();
  private notifierSecrets: string[] = [];
  /** Each notifier's config as JSON, to tell a changed one on reload. */
  private readonly fingerprints = new Map<string, string>();
  private readonly draining = new AbortController();
  private readonly stopping = new AbortController();
  private readonly recovery: RecoveryTracker;
  private readonly unsubscribe: Array<() => void>;

  constructor(private readonly o: DispatcherOptions) {
    this.recovery = new RecoveryTracker(o.previous);
    this.update(o.notifiers);
    this.unsubscribe = [
      o.events.on('execution:finished', ({ execution }) => this.onEnded(execution)),
      o.events.on('execution:skipped', ({ execution }) => this.onEnded(execution)),
    ];
  }

  /** Applies the notifiers of a reloaded config: new ones start, changed ones deliver what waits to the new target, removed ones drop theirs. */
  update(notifiers: Record<string, NotifierConfig>): void {
    this.notifierSecrets = Object.values(notifiers).flatMap(secretsOf);
    for (const [name, queue] of this.queues) {
      if (notifiers[name]) continue;
      queue.retire();
      this.queues.delete(name);
      this.fingerprints.delete(name);
    }
    for (const [name, config] of Object.entries(notifiers)) {
      const fingerprint = JSON.stringify(config);
      if (this.fingerprints.get(name) === fingerprint) continue;
      this.fingerprints.set(name, fingerprint);
      const target = this.target(config);
      const queue = this.queues.get(name);
      if (queue) queue.retarget(target);
      else {
        this.queues.set(name, new DeliveryQueue(target, {
          events: this.o.events,
          maxPending: this.o.maxPending ?? MAX_PENDING,
          backoffMs: this.o.backoffMs ?? defaultBackoffMs,
          draining: this.draining.signal,
          signal: this.stopping.signal,
        }));
      }
    }
  }

  /** Each notifier's target, counters and last delivery error (for /health), by name. */
  status(): Record<string, NotifierStatus> {
    const out: Record<string, NotifierStatus> = {};
    for (const [name, queue] of [...this.queues].sort(([a], [b]) => a.localeCompare(b))) {
      const config = queue.config;
      out[name] = { type: config.type, ...(config.type === 'webhook' ? { format: config.format } : {}), target: describeTarget(config), ...queue.status() };
    }
    return out;
  }

  /**
   * Stops listening and retrying; what is queued gets one attempt within `graceMs`, then attempts are cut and
   * the rest dropped, so a dead target cannot hold up the daemon's exit. Idempotent.
   */
  async close(graceMs: number = SHUTDOWN_GRACE_MS): Promise<void> {
    for (const off of this.unsubscribe.splice(0)) off();
    this.draining.abort();
    const drained = Promise.all([...this.queues.values()].map((q) => q.idle()));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    this.stopping.abort();
    await drained;
  }

  private target(config: NotifierConfig): Target {
    return {
      config,
      sender: this.o.sender ? this.o.sender(config) : config.type === 'email' ? emailSender(config) : webhookSender(config, this.o.userAgent),
      // Every configured secret, not only this notifier's: a receiver may echo whatever it was sent or knows.
      redact: (text) => redactSecrets(text, [...this.notifierSecrets, ...(this.o.secrets?.() ?? [])]),
    };
  }

  private onEnded(execution: Execution): void {
    const recovered = this.recovery.record(execution);
    if (this.o.rules && this.o.rules(execution.job_id).length === 0) return;
    const job = this.o.job(execution.job_id);
    const rules = job?.notify ?? [];
    if (!job || rules.length === 0) return;
    // Two entries naming one notifier make one message: the events they ask for are merged.
    const wanted = new Map<string, Set<NotifyEvent>>();
    for (const rule of rules) {
      const events = wanted.get(rule.notifier) ?? new Set<NotifyEvent>();
      for (const event of rule.events) events.add(event);
      wanted.set(rule.notifier, events);
    }
    const links = linksFor(this.o.publicUrl, execution);
    for (const [name, events] of wanted) {
      const event = eventFor(events, execution.status, recovered);
      if (!event) continue;
      const notification: Notification = { id: randomUUID(), event, job, execution, links };
      const queue = this.queues.get(name);
      if (queue) queue.push(notification);
      else this.dropUnknown(name, notification);
    }
  }

  /** A job can name a notifier the config no longer declares only if the daemon started that way (a reload refuses it). */
  private dropUnknown(name: string, n: Notification): void {
    this.o.events.emit('notify:attempt', {
      notifier: name, kind: null, event: n.event, jobId: n.execution.job_id, executionId: n.execution.id, attempt: 0, outcome: 'dropped',
      durationMs: 0, status: null, code: 'UNKNOWN_NOTIFIER', error: `job ${n.execution.job_id} names notifier ${name}, which the config does not declare`, retryInMs: null,
    });
  }
}
