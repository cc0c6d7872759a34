/**
 * Prometheus metrics for `GET /metrics`, in a registry of their own (never prom-client's global one,
 * so two daemons in one process, or tests, never share counters).
 *
 * Counters and histograms are fed by the typed events; gauges are read at scrape time (the runner's
 * running and queued executions, each job's last success and next run), so a job that is gone has
 * no series. The `job_id` label is the job id: one series per job and status, and a job's series are
 * dropped at the first scrape after it is deleted or removed from the config.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from '../vendor/prom-client.js';
import type { Events } from '../jobs/events.js';
import type { Execution } from '../jobs/execution.js';
import { addClusterMetrics, type ClusterMetricsSource } from './cluster-metrics.js';

/** One job as the metrics see it at scrape time. */
export interface JobMetrics {
  id: string;
  /** Null when paused, completed, or without a further slot. */
  nextRun: Date | null;
  /** When the job's newest successful execution ended (kept in its state, so trimmed history does not lose it), or null. */
  lastSuccess: Date | null;
}

/** What the metrics read at scrape time. */
export interface MetricsSource {
  jobs(): JobMetrics[];
  /** Executions holding a `max_concurrency` slot. */
  running(): number;
  /** Executions waiting for one. */
  queued(): number;
  /** Names of the configured notifiers. */
  notifiers(): string[];
}

export interface MetricsOptions {
  events: Events;
  source: MetricsSource;
  /** Process metrics (CPU, memory, event-loop lag, GC, handles); default true. */
  defaultMetrics?: boolean;
  /** Cluster mode: the `node` label on every series, and the cluster's gauges. */
  cluster?: ClusterMetricsSource;
}

/** Statuses every current job has a series for, even at 0, so `increase()` sees the first failure. */
const ZERO_STATUSES = ['success', 'failure'] as const;
/** Outcomes every configured notifier has a series for, even at 0, for the same reason. */
const NOTIFY_OUTCOMES = ['sent', 'retry', 'failed', 'dropped'] as const;
/**
 * prom-client's gauges that promtool's lint refuses (a `_total` suffix is for counters). Each is the sum of
 * a by-type gauge that stays: `sum(nodejs_active_handles)` gives the same number.
 */
const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * Seconds; from quick jobs to multi-hour backups. Few on purpose: every job has one series per bucket,
 * and prom-client takes microseconds per series to write a scrape, during which nothing else runs.
 */
const DURATION_BUCKETS = [0.5, 2, 10, 30, 60, 300, 900, 1800, 3600, 10800];
/** Seconds; a healthy daemon fires within milliseconds, more than a second is logged as schedule.late. */
const LATENESS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface Scrape {
  contentType: string;
  body: string;
}

/** The daemon's metrics; subscribe once at start, scrape() for each `GET /metrics`. */
export class Metrics {
  readonly registry = new Registry();
  private readonly source: MetricsSource;
  private readonly executions: Counter<'job_id' | 'status'>;
  private readonly duration: Histogram<'job_id'>;
  private readonly stepDuration: Histogram<'job_id' | 'step'>;
  /** Step label values per job, to drop them with the job. */
  private readonly stepsSeen = new Map<string, Set<string>>();
  private readonly lastSuccess: Gauge<'job_id'>;
  private readonly nextRun: Gauge<'job_id'>;
  private readonly notifications: Counter<'notifier' | 'outcome'>;
  /** Notifiers already given their series at 0. */
  private readonly notifiersSeen = new Set<string>();
  /** Label values given to the per-job counter and histogram, to drop them when their job is gone. */
  private readonly seen = new Map<string, Set<string>>();

  constructor(options: MetricsOptions) {
    this.source = options.source;
    const registers = [this.registry];
    const source = options.source;
    this.executions = new Counter({
      name: 'watchbell_executions_total',
      help: 'Executions that ended, by job and final status (success, failure, cancelled, skipped).',
      labelNames: ['job_id', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'watchbell_execution_duration_seconds',
      help: 'Duration of executions that ran (all attempts and retry delays), by job.',
      labelNames: ['job_id'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.stepDuration = new Histogram({
      name: 'watchbell_step_duration_seconds',
      help: 'Duration of the steps of multi-step jobs that ran (all attempts and retry delays; a wait step: the time it waited), by job and step.',
      labelNames: ['job_id', 'step'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    const lateness = new Histogram({
      name: 'watchbell_schedule_lateness_seconds',
      help: 'Time from a scheduled slot to the moment the daemon fired it.',
      buckets: LATENESS_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'watchbell_executions_running',
      help: 'Executions in progress now (holding one of the max_concurrency slots).',
      registers,
      collect() {
        this.set(source.running());
      },
    });
    new Gauge({
      name: 'watchbell_executions_queued',
      help: 'Executions waiting now for a max_concurrency slot.',
      registers,
      collect() {
        this.set(source.queued());
      },
    });
    this.lastSuccess = new Gauge({
      name: 'watchbell_job_last_success_timestamp_seconds',
      help: 'Unix time at which the newest successful execution of the job ended (absent until it first succeeds).',
      labelNames: ['job_id'],
      registers,
    });
    this.nextRun = new Gauge({
      name: 'watchbell_job_next_run_timestamp_seconds',
      help: 'Unix time of the next scheduled run of the job (absent while paused or completed).',
      labelNames: ['job_id'],
      registers,
    });
    if (options.cluster) addClusterMetrics(this.registry, options.cluster);
    if (options.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      for (const name of LINT_FAILING_DEFAULTS) this.registry.removeSingleMetric(name);
    }

    const ended = (e: Execution) => {
      this.count(e.job_id, e.status);
      if (e.started_at !== null && typeof e.duration === 'number') this.duration.observe({ job_id: e.job_id }, e.duration);
    };
    const notifications = (this.notifications = new Counter({
      name: 'watchbell_notifications_total',
      help: 'Notification delivery attempts by notifier and outcome (sent, retry, failed), and notifications dropped unsent (dropped).',
      labelNames: ['notifier', 'outcome'],
      registers,
    }));
    options.events.on('notify:attempt', ({ notifier, outcome }) => notifications.inc({ notifier, outcome }));
    options.events.on('execution:finished', ({ execution }) => ended(execution));
    options.events.on('execution:skipped', ({ execution }) => ended(execution));
    options.events.on('step:finished', ({ jobId, step }) => {
      if (step.duration === null) return;
      this.stepDuration.observe({ job_id: jobId, step: step.name }, step.duration);
      let steps = this.stepsSeen.get(jobId);
      if (!steps) this.stepsSeen.set(jobId, (steps = new Set()));
      steps.add(step.name);
    });
    options.events.on('job:due', ({ slot, firedAt, trigger }) => {
      // A catch-up run is late by the length of the downtime: that is not the scheduler's lateness.
      if (trigger === 'schedule') lateness.observe(Math.max(0, firedAt.getTime() - slot.getTime()) / 1000);
    });
  }

  /** The metrics in Prometheus text format, with the per-job gauges read now. */
  async scrape(): Promise<Scrape> {
    this.refreshJobs();
    this.refreshNotifiers();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private count(job: string, status: string): void {
    this.executions.inc({ job_id: job, status });
    this.labels(job).add(status);
  }

  private labels(job: string): Set<string> {
    let statuses = this.seen.get(job);
    if (!statuses) this.seen.set(job, (statuses = new Set()));
    return statuses;
  }

  /** Sets the per-job gauges from the jobs as they are now, and drops the series of jobs that are gone. */
  private refreshJobs(): void {
    const jobs = this.source.jobs();
    const current = new Set<string>();
    this.lastSuccess.reset();
    this.nextRun.reset();
    for (const job of jobs) {
      current.add(job.id);
      if (job.lastSuccess) this.lastSuccess.set({ job_id: job.id }, job.lastSuccess.getTime() / 1000);
      if (job.nextRun) this.nextRun.set({ job_id: job.id }, job.nextRun.getTime() / 1000);
      const statuses = this.labels(job.id);
      for (const status of ZERO_STATUSES) {
        if (!statuses.has(status)) {
          this.executions.inc({ job_id: job.id, status }, 0);
          statuses.add(status);
        }
      }
    }
    // An execution that ends after its job was deleted adds a series again: it goes at the next scrape.
    for (const [job, statuses] of this.seen) {
      if (current.has(job)) continue;
      for (const status of statuses) this.executions.remove({ job_id: job, status });
      this.duration.remove({ job_id: job });
      this.seen.delete(job);
    }
    for (const [job, steps] of this.stepsSeen) {
      if (current.has(job)) continue;
      for (const step of steps) this.stepDuration.remove({ job_id: job, step });
      this.stepsSeen.delete(job);
    }
  }

  /**
   * Gives every configured notifier its series at 0. A removed notifier keeps its series: the notifications
   * dropped with it are counted after its removal, and an alert must still see them.
   */
  private refreshNotifiers(): void {
    for (const notifier of this.source.notifiers()) {
      if (this.notifiersSeen.has(notifier)) continue;
      for (const outcome of NOTIFY_OUTCOMES) this.notifications.inc({ notifier, outcome }, 0);
      this.notifiersSeen.add(notifier);
    }
  }
}
