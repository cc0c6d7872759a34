/** Runs executions of jobs: concurrency policy, the attempt loop in the background, records and events. */
import { WatchbellError } from '../jobs/errors.js';
import type { Events } from '../jobs/events.js';
import type { Execution, Trigger } from '../jobs/execution.js';
import type { Job } from '../jobs/job.js';
import { createLogWriter } from '../store/log-file.js';
import type { Store } from '../store/store.js';
import { runAttempt, type AttemptResult } from './command.js';
import {
  brokenExecution,
  finishedExecution,
  skippedExecution,
  snapshot,
  startedExecution,
  withAttempts,
} from './execution-record.js';
import type { LogSink } from './log-sink.js';
import { runWithRetries } from './retry.js';

/** An execution's log as the runner uses it; store/log-file.ts's LogWriter is one. */
export interface ExecutionLog extends LogSink {
  tail(): string;
  close(): Promise<void>;
}

export interface RunnerOptions {
  store: Store;
  events: Events;
  /** Between SIGTERM and SIGKILL when an attempt times out or is cancelled; default 10 s. */
  killGraceMs?: number;
  /** Opens an execution's log; default: the log file of store/log-file.ts. */
  openLog?: (path: string, maxBytes: number) => ExecutionLog;
}

interface Running {
  job: Job;
  /** Replaced, never mutated, as the execution goes on. */
  execution: Execution;
  controller: AbortController;
  done: Promise<Execution>;
}

/** Finished executions remembered for whenFinished() and cancel() answers; the store has the rest. */
const RECENT_LIMIT = 256;

/** Starts, tracks, cancels and records executions; one per daemon. */
export class Runner {
  private readonly store: Store;
  private readonly events: Events;
  private readonly killGraceMs: number;
  private readonly openLog: (path: string, maxBytes: number) => ExecutionLog;
  private readonly active = new Map<string, Running>();
  private readonly recent = new Map<string, Execution>();
  /** Per job, the tail of a promise chain: triggers of one job decide and start one at a time. */
  private readonly jobQueues = new Map<string, Promise<unknown>>();
  private closing = false;
  private stopped: Promise<void> | undefined;

  constructor(options: RunnerOptions) {
    this.store = options.store;
    this.events = options.events;
    this.killGraceMs = options.killGraceMs ?? 10_000;
    this.openLog = options.openLog ?? ((path, maxBytes) => createLogWriter(path, { maxBytes }));
  }

  /**
   * Starts an execution of `job` (recorded before its process starts) and resolves with it while it
   * runs; with `concurrency: forbid` and a run in progress, a manual trigger throws JOB_ALREADY_RUNNING
   * and a scheduled one resolves with a `skipped` record.
   */
  trigger(job: Job, trigger: Trigger, scheduledAt: Date | null): Promise<Execution> {
    // Serialized per job, or two triggers could both see nothing running and both start under `forbid`.
    const previous = this.jobQueues.get(job.id) ?? Promise.resolve();
    const next = previous.then(() => this.start(job, trigger, scheduledAt));
    const tail = next.catch(() => {});
    this.jobQueues.set(job.id, tail);
    void tail.then(() => {
      if (this.jobQueues.get(job.id) === tail) this.jobQueues.delete(job.id);
    });
    return next;
  }

  /** Executions in progress, of one job or of all, oldest first. */
  running(jobId?: string): Execution[] {
    return this.entries(jobId).map((r) => snapshot(r.execution));
  }

  /** True while an execution of the job is in progress. */
  isRunning(jobId: string): boolean {
    return this.entries(jobId).length > 0;
  }

  /** Resolves with the final record of an execution this runner runs or ran recently. */
  async whenFinished(executionId: string): Promise<Execution> {
    const running = this.active.get(executionId);
    if (running) return running.done;
    const finished = this.recent.get(executionId);
    if (finished) return snapshot(finished);
    throw new WatchbellError('EXECUTION_NOT_FOUND', `execution ${executionId} is not known to this runner`);
  }

  /** Cancels a running execution (no further retries) and resolves with its final record. */
  async cancel(jobId: string, executionId: string): Promise<Execution> {
    const running = this.active.get(executionId);
    if (running && running.job.id === jobId) {
      running.controller.abort();
      return running.done;
    }
    const known = this.store.getExecution(jobId, executionId) ?? this.recentOf(jobId, executionId);
    if (!known) throw new WatchbellError('EXECUTION_NOT_FOUND', `execution ${executionId} of job ${jobId} not found`);
    throw new WatchbellError('EXECUTION_FINISHED', `execution ${executionId} already finished with status ${known.status}`);
  }

  /** Cancels every running execution of a job and resolves once all are recorded. */
  async cancelJob(jobId: string): Promise<Execution[]> {
    const entries = this.entries(jobId);
    for (const r of entries) r.controller.abort();
    return Promise.all(entries.map((r) => r.done));
  }

  /** Refuses new triggers, gives running executions `graceMs` to finish, then cancels the rest; idempotent. */
  shutdown(graceMs: number): Promise<void> {
    this.stopped ??= this.stop(graceMs);
    return this.stopped;
  }

  private async stop(graceMs: number): Promise<void> {
    this.closing = true;
    const all = () => Promise.all([...this.active.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all(), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    for (const r of this.active.values()) r.controller.abort();
    await all();
  }

  private entries(jobId?: string): Running[] {
    const all = [...this.active.values()];
    return jobId === undefined ? all : all.filter((r) => r.job.id === jobId);
  }

  private recentOf(jobId: string, executionId: string): Execution | undefined {
    const e = this.recent.get(executionId);
    return e && e.job_id === jobId ? e : undefined;
  }

  private refuseWhenClosing(job: Job): void {
    if (this.closing) {
      // No code fits better yet: the API answers it as "unavailable", which a shutting-down daemon is.
      throw new WatchbellError('STORE_UNAVAILABLE', `watchbell is shutting down; job ${job.id} was not started`);
    }
  }

  private async start(job: Job, trigger: Trigger, scheduledAt: Date | null): Promise<Execution> {
    this.refuseWhenClosing(job);
    const busy = this.entries(job.id);
    if (busy.length > 0) {
      const oldest = busy[0]!.execution.id;
      if (job.concurrency === 'forbid') {
        if (trigger === 'manual') {
          throw new WatchbellError(
            'JOB_ALREADY_RUNNING',
            `job ${job.id} is already running (execution ${oldest}) and its concurrency is "forbid"`,
          );
        }
        return this.skip(job, trigger, scheduledAt, oldest);
      }
      if (job.concurrency === 'replace') {
        await this.cancelJob(job.id);
        this.refuseWhenClosing(job);
      }
    }

    const execution = startedExecution(job, trigger, scheduledAt, new Date());
    let resolveDone!: (e: Execution) => void;
    const done = new Promise<Execution>((resolve) => (resolveDone = resolve));
    // Registered before the first await, so cancel() and shutdown() see it from now on.
    const running: Running = { job, execution, controller: new AbortController(), done };
    this.active.set(execution.id, running);
    try {
      // Durable before the process starts: a crash from here on leaves an `in_progress` record to mark interrupted.
      await this.store.addExecution(snapshot(execution), job.history_limit);
    } catch (err) {
      this.active.delete(execution.id);
      resolveDone(brokenExecution(execution, err, new Date()));
      throw err;
    }
    this.events.emit('execution:started', { execution: snapshot(execution) });
    void this.execute(running).then(resolveDone);
    return snapshot(execution);
  }

  private async skip(job: Job, trigger: Trigger, scheduledAt: Date | null, runningId: string): Promise<Execution> {
    const execution = skippedExecution(job, trigger, scheduledAt, runningId, new Date());
    await this.store.addExecution(snapshot(execution), job.history_limit);
    this.events.emit('execution:skipped', { execution: snapshot(execution) });
    return snapshot(execution);
  }

  /** Runs the attempts and records the end. Never rejects: whatever breaks is recorded and reported. */
  private async execute(running: Running): Promise<Execution> {
    const { job, controller } = running;
    const id = running.execution.id;
    let log: ExecutionLog | undefined;
    let final: Execution;
    try {
      log = this.openLog(this.store.logPath(job.id, id), job.max_output);
      const sink = log;
      const outcome = await runWithRetries({
        retries: job.retries,
        retryDelayMs: job.retry_delay * 1000,
        log: sink,
        signal: controller.signal,
        attempt: () =>
          runAttempt({
            command: job.command,
            environment: job.environment,
            workingDirectory: job.working_directory,
            timeoutMs: job.timeout * 1000,
            killGraceMs: this.killGraceMs,
            log: sink,
            signal: controller.signal,
          }),
        onRetry: (attempts) => this.recordProgress(running, attempts),
      });
      await this.closeLog(log, id);
      final = finishedExecution(running.execution, outcome, log.tail(), new Date());
    } catch (err) {
      this.report(`execution ${id} of job ${job.id}`, err);
      if (log) await this.closeLog(log, id);
      final = { ...brokenExecution(running.execution, err, new Date()), output: log?.tail() ?? '' };
    }
    running.execution = final;
    try {
      await this.store.updateExecution(snapshot(final));
    } catch (err) {
      // The record stays `in_progress` on disk; the next start marks it interrupted.
      this.report(`recording execution ${id} of job ${job.id}`, err);
    }
    // Gone from `active` before anyone hears of the end, so a listener that triggers again is not refused.
    this.active.delete(id);
    this.remember(final);
    this.events.emit('execution:finished', { execution: snapshot(final) });
    return snapshot(final);
  }

  /** Keeps attempts[] current between retries, for people looking while a long retry delay runs. */
  private async recordProgress(running: Running, attempts: readonly AttemptResult[]): Promise<void> {
    running.execution = withAttempts(running.execution, attempts);
    try {
      await this.store.updateExecution(snapshot(running.execution));
    } catch (err) {
      this.report(`recording progress of execution ${running.execution.id}`, err);
    }
  }

  private async closeLog(log: ExecutionLog, executionId: string): Promise<void> {
    try {
      await log.close();
    } catch (err) {
      this.report(`closing the log of execution ${executionId}`, err);
    }
  }

  private remember(execution: Execution): void {
    this.recent.set(execution.id, execution);
    if (this.recent.size > RECENT_LIMIT) this.recent.delete(this.recent.keys().next().value!);
  }

  private report(where: string, error: unknown): void {
    this.events.emit('error', { where, error });
  }
}
