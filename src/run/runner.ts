/**
 * Runs executions of jobs: the concurrency policy of each job, the daemon-wide limit on executions in
 * progress (`max_concurrency`) with its queue, the attempt loop in the background, records and events.
 *
 * An execution is `queued` while it waits for one of the `maxConcurrency` slots, `in_progress` once it
 * holds one. The queue is first come, first started, across all jobs. For a job's concurrency policy
 * a queued execution counts as in progress: `forbid` skips or refuses beside it, `replace` cancels it.
 * Each attempt's process group is written to a pid file, and every job process gets
 * WATCHBELL_EXECUTION_ID in its environment, for crash recovery: see pid-file.ts.
 *
 * A job with steps runs them through step-run.ts; a wait step is `gated` here (no slot held, see gate()).
 * Past 500 lines because slots, the queue and gates share the entries' state; what does not (records,
 * retries, steps, outputs) lives beside it.
 */
import { isWatchbellError, WatchbellError } from '../jobs/errors.js';
import type { Events } from '../jobs/events.js';
import type { Execution, StepRecord, Trigger } from '../jobs/execution.js';
import type { Job } from '../jobs/job.js';
import { createLogWriter } from '../store/log-file.js';
import type { Store } from '../store/store.js';
import { runAttempt, type AttemptResult } from './command.js';
import { runContainerAttempt } from './container/container-attempt.js';
import { execRecordPath } from './container/exec-record.js';
import {
  brokenExecution,
  cancelledQueuedExecution,
  dequeuedExecution,
  finishedExecution,
  queuedExecution,
  skippedExecution,
  snapshot,
  startedExecution,
  withAttempts,
} from './execution-record.js';
import type { LogSink } from './log-sink.js';
import { EXECUTION_ID_ENV, pidFilePath } from './pid-file.js';
import { runWithRetries } from './retry.js';
import { runSteps, type GateEnd, type StepAttempt } from './step-run.js';
import { finishedStepsExecution, waitingExecution, withSteps } from './steps-record.js';
import { delay, formatSeconds, setLongTimeout } from './timers.js';

/** What one attempt runs: a job's command, or one step's. */
interface AttemptSpec {
  step: Pick<StepAttempt['step'], 'command' | 'container' | 'timeout' | 'working_directory'>;
  environment: Record<string, string>;
}

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
  /**
   * Executions in progress at once, across all jobs (`daemon.max_concurrency`); further ones wait
   * `queued` and start in trigger order as slots free up. An integer >= 1, or Infinity; default 8.
   */
  maxConcurrency?: number;
  /** Cluster mode: this node's name, recorded in every execution it makes (`node`). */
  node?: string;
}

/** What a trigger may add to an execution beyond its job (restart, chain, run-now parameters). */
export interface TriggerExtra {
  /** Over the job's (and its steps') environment; only the names are recorded (`parameters`). */
  parameters?: Record<string, string>;
  /** Over everything but ours, unrecorded: the upstream outputs of a chain (WATCHBELL_UPSTREAM_<KEY>). */
  environment?: Record<string, string>;
  restartedFrom?: string;
  triggeredBy?: { job_id: string; execution_id: string };
  /** The step records to start from (a restart's reused ones); default: all pending. */
  steps?: StepRecord[];
  /** The node running it (cluster mode); set by the runner from its options. */
  node?: string;
}

/** Messages of executions cancelled before they started. */
const CANCELLED_QUEUED = 'cancelled while queued';
/** Between tries to record an execution's end that the store refused. */
const RECORD_RETRY_MS = 1000;
const CANCELLED_QUEUED_AT_SHUTDOWN = 'cancelled while queued: watchbell shut down';

interface Entry {
  job: Job;
  /** Replaced, never mutated, as the execution goes on. */
  execution: Execution;
  /**
   * `queued` while it waits for a slot; `running` from the moment it holds one until its end is recorded;
   * `gated` while a wait step holds it (no slot) and while it waits for a slot again after one.
   */
  state: 'queued' | 'running' | 'gated';
  extra: TriggerExtra;
  /** Set while gated and queued for a slot again: called when it gets one (or is cancelled). */
  resume?: () => void;
  /** Set while a wait step holds it: ends the wait. */
  endGate?: (end: GateEnd) => void;
  /** Date.now() when it was queued, or null when it started at once. */
  queuedAt: number | null;
  /** Settles once its first record is stored; rejects when it could not be (start() throws that to the caller). */
  recorded: Promise<void>;
  controller: AbortController;
  /** When the attempt in progress began; null between attempts (a retry delay) and before the first. */
  attemptStartedAt?: string | null;
  done: Promise<Execution>;
  resolveDone: (e: Execution) => void;
}

/** `attempt`, noting on the entry when each attempt starts and that none is in progress once it ends (for progress()). */
function timedAttempt<T>(entry: Entry, attempt: () => Promise<T>): () => Promise<T> {
  return () => {
    entry.attemptStartedAt = new Date().toISOString();
    return attempt().finally(() => (entry.attemptStartedAt = null));
  };
}

/** Finished executions remembered for whenFinished() and cancel() answers; the store has the rest. */
const RECENT_LIMIT = 256;

/** Starts, queues, tracks, cancels and records executions; one per daemon. */
export class Runner {
  private readonly store: Store;
  private readonly events: Events;
  private readonly killGraceMs: number;
  private readonly openLog: (path: string, maxBytes: number) => ExecutionLog;
  private readonly maxConcurrency: number;
  private readonly node: string | undefined;
  /** Queued and running executions, in trigger order. */
  private readonly active = new Map<string, Entry>();
  /** The same entries by job, so a trigger's policy check does not scan every job's (10,000 queued in a storm). */
  private readonly activeByJob = new Map<string, Set<Entry>>();
  /** The queue: executions waiting for a slot, first in first out (a Set for O(1) removal on cancel). */
  private readonly waiting = new Set<Entry>();
  /** Slots held, i.e. entries whose state is `running`. While one is free, `waiting` is empty. */
  private slotsInUse = 0;
  private readonly recent = new Map<string, Execution>();
  /** Per job, the tail of a promise chain: triggers of one job decide and start one at a time. */
  private readonly jobQueues = new Map<string, Promise<unknown>>();
  private closing = false;
  private stopped: Promise<void> | undefined;
  /** Aborted when shutdown stops waiting: a refused record is no longer tried again. */
  private readonly giveUp = new AbortController();

  constructor(options: RunnerOptions) {
    this.store = options.store;
    this.events = options.events;
    this.killGraceMs = options.killGraceMs ?? 10_000;
    this.openLog = options.openLog ?? ((path, maxBytes) => createLogWriter(path, { maxBytes }));
    this.maxConcurrency = options.maxConcurrency ?? 8;
    this.node = options.node;
    if (!(this.maxConcurrency >= 1 && (Number.isInteger(this.maxConcurrency) || this.maxConcurrency === Infinity))) {
      throw new RangeError(`Runner: maxConcurrency must be an integer >= 1 or Infinity, got ${options.maxConcurrency}`);
    }
  }

  /**
   * Starts an execution of `job`, or queues it when `maxConcurrency` executions are in progress, and
   * resolves with its first record (`in_progress`, or `queued`) once that is stored, before its process
   * starts. With `concurrency: forbid` and one queued or in progress, a manual trigger throws
   * JOB_ALREADY_RUNNING and a scheduled one resolves with a `skipped` record.
   */
  trigger(job: Job, trigger: Trigger, scheduledAt: Date | null, extra: TriggerExtra = {}): Promise<Execution> {
    // Serialized per job, or two triggers could both see nothing running and both start under `forbid`.
    const previous = this.jobQueues.get(job.id) ?? Promise.resolve();
    const stamped = this.node === undefined ? extra : { ...extra, node: this.node };
    const next = previous.then(() => this.start(job, trigger, scheduledAt, stamped));
    const tail = next.catch(() => {});
    this.jobQueues.set(job.id, tail);
    void tail.then(() => {
      if (this.jobQueues.get(job.id) === tail) this.jobQueues.delete(job.id);
    });
    return next;
  }

  /** Executions in progress (holding a slot), of one job or of all, oldest first. */
  running(jobId?: string): Execution[] {
    return this.entries(jobId, 'running').map((r) => snapshot(r.execution));
  }

  /** Executions waiting for a slot, of one job or of all, in the order they will start. */
  queued(jobId?: string): Execution[] {
    return this.entries(jobId, 'queued').map((r) => snapshot(r.execution));
  }

  /** Slots a new execution could take now without waiting (0 while any waits in the queue). */
  freeSlots(): number {
    if (this.closing || this.waiting.size > 0) return 0;
    return Math.max(0, this.maxConcurrency - this.slotsInUse);
  }

  /**
   * Cluster mode: runs an execution another node queued and this one took (cluster/work-queue.ts), already
   * stored `in_progress` with this node's name. It holds a slot like any other: the caller took no more
   * than freeSlots().
   */
  runTaken(job: Job, execution: Execution, overrides: Record<string, string> = {}): void {
    const entry = this.storedEntry(job, execution, 'running');
    // A run-now's parameters and a chain's upstream outputs, as the node that queued it had them.
    entry.extra = { environment: overrides };
    this.slotsInUse++;
    this.events.emit('execution:started', { execution: snapshot(entry.execution) });
    void this.execute(entry);
  }

  /** True while an execution of the job is queued or in progress: what its concurrency policy looks at. */
  isRunning(jobId: string): boolean {
    return this.entries(jobId).length > 0;
  }

  /**
   * A running execution as it is now: the attempts made so far and the one in progress (`finished_at: null`),
   * which its stored record only gets when the attempt ends. Undefined when this runner is not running it.
   */
  progress(executionId: string): Execution | undefined {
    const entry = this.active.get(executionId);
    if (!entry || entry.state !== 'running') return undefined;
    const execution = snapshot(entry.execution);
    const started = entry.attemptStartedAt;
    if (started) {
      execution.attempts.push({ started_at: started, finished_at: null, exit_code: null, signal: null, reason: null, error: null });
      execution.retry_count = execution.attempts.length - 1;
    }
    return execution;
  }

  /** Resolves with the final record of an execution this runner runs, queues or ran recently. */
  async whenFinished(executionId: string): Promise<Execution> {
    const entry = this.active.get(executionId);
    if (entry) return entry.done;
    const finished = this.recent.get(executionId);
    if (finished) return snapshot(finished);
    throw new WatchbellError('EXECUTION_NOT_FOUND', `execution ${executionId} is not known to this runner`);
  }

  /**
   * Cancels a queued or running execution and resolves with its final record: a queued one is
   * recorded `cancelled` at once and never starts; a running one is stopped, with no further retries.
   */
  async cancel(jobId: string, executionId: string): Promise<Execution> {
    const entry = this.active.get(executionId);
    if (entry && entry.job.id === jobId) return this.stopEntry(entry, CANCELLED_QUEUED);
    const known = this.store.getExecution(jobId, executionId) ?? this.recentOf(jobId, executionId);
    if (!known) throw new WatchbellError('EXECUTION_NOT_FOUND', `execution ${executionId} of job ${jobId} not found`);
    throw new WatchbellError('EXECUTION_FINISHED', `execution ${executionId} already finished with status ${known.status}`);
  }

  /** Cancels every queued and running execution of a job and resolves once all are recorded. */
  async cancelJob(jobId: string): Promise<Execution[]> {
    const entries = this.entries(jobId);
    // Queued ones first, or a slot freed by a stopped one could start one of them.
    for (const e of entries) if (e.state === 'queued') void this.stopEntry(e, CANCELLED_QUEUED);
    for (const e of entries) if (e.state !== 'queued') void this.stopEntry(e, CANCELLED_QUEUED);
    return Promise.all(entries.map((e) => e.done));
  }

  /**
   * Refuses new triggers, cancels queued executions at once, gives running ones `graceMs` to finish,
   * then cancels the rest; idempotent.
   */
  shutdown(graceMs: number): Promise<void> {
    this.stopped ??= this.stop(graceMs);
    return this.stopped;
  }

  private async stop(graceMs: number): Promise<void> {
    this.closing = true;
    // Executions held at a gate stay `waiting` in the store, for the next start to take up again.
    for (const e of this.active.values()) e.endGate?.({ kind: 'detached' });
    // Nothing new may start while the daemon stops, so nothing queued ever will: recorded as cancelled now.
    for (const e of [...this.waiting]) void this.stopEntry(e, CANCELLED_QUEUED_AT_SHUTDOWN);
    const all = () => Promise.all([...this.active.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all(), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    for (const r of this.active.values()) r.controller.abort();
    this.giveUp.abort();
    await all();
  }

  private entries(jobId?: string, state?: Entry['state']): Entry[] {
    const out: Entry[] = [];
    const candidates = jobId === undefined ? this.active.values() : (this.activeByJob.get(jobId) ?? []);
    for (const e of candidates) {
      if ((jobId === undefined || e.job.id === jobId) && (state === undefined || e.state === state)) out.push(e);
    }
    return out;
  }

  private addActive(entry: Entry): void {
    this.active.set(entry.execution.id, entry);
    let set = this.activeByJob.get(entry.job.id);
    if (!set) this.activeByJob.set(entry.job.id, (set = new Set()));
    set.add(entry);
  }

  private removeActive(entry: Entry): void {
    this.active.delete(entry.execution.id);
    const set = this.activeByJob.get(entry.job.id);
    set?.delete(entry);
    if (set?.size === 0) this.activeByJob.delete(entry.job.id);
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

  private async start(job: Job, trigger: Trigger, scheduledAt: Date | null, extra: TriggerExtra): Promise<Execution> {
    this.refuseWhenClosing(job);
    const busy = this.entries(job.id);
    if (busy.length > 0) {
      const oldest = busy[0]!;
      if (job.concurrency === 'forbid') {
        if (trigger === 'manual' || trigger === 'restart') {
          throw new WatchbellError(
            'JOB_ALREADY_RUNNING',
            `job ${job.id} is already ${oldest.state} (execution ${oldest.execution.id}) and its concurrency is "forbid"`,
          );
        }
        return this.skip(job, trigger, scheduledAt, oldest, extra);
      }
      if (job.concurrency === 'replace') {
        await this.cancelJob(job.id);
        this.refuseWhenClosing(job);
      }
    }

    // A slot is free only while nobody waits (the pump hands a freed slot to the queue at once).
    const runNow = this.slotsInUse < this.maxConcurrency && this.waiting.size === 0;
    const now = new Date();
    const execution = withSteps(
      runNow ? startedExecution(job, trigger, scheduledAt, now) : queuedExecution(job, trigger, scheduledAt, now),
      job, extra,
    );
    let resolveDone!: (e: Execution) => void;
    const done = new Promise<Execution>((resolve) => (resolveDone = resolve));
    // Durable before the process starts: a crash from here on leaves an unfinished record to mark interrupted.
    let recorded: Promise<void>;
    try {
      recorded = this.store.addExecution(snapshot(execution), job.history_limit);
    } catch (err) {
      recorded = Promise.reject(err);
    }
    const entry: Entry = {
      job,
      execution,
      state: runNow ? 'running' : 'queued',
      extra,
      queuedAt: runNow ? null : now.getTime(),
      recorded,
      controller: new AbortController(),
      done,
      resolveDone,
    };
    // Registered before the first await, so cancel(), shutdown() and the queue see it from now on.
    this.addActive(entry);
    if (runNow) this.slotsInUse++;
    else this.waiting.add(entry);
    try {
      await recorded;
    } catch (err) {
      this.removeActive(entry);
      this.waiting.delete(entry);
      // A queued one the pump took meanwhile is released by launch(), which sees the same rejection.
      if (runNow) this.releaseSlot();
      resolveDone(brokenExecution(execution, err, new Date()));
      throw err;
    }
    if (runNow) {
      this.events.emit('execution:started', { execution: snapshot(execution) });
      void this.execute(entry);
    } else this.events.emit('execution:queued', { execution: snapshot(execution) });
    return snapshot(execution);
  }

  /** Records a chained execution of a paused job as `skipped` (reason `paused`), without running it. */
  async skipPaused(job: Job, extra: TriggerExtra): Promise<Execution> {
    const skipped = skippedExecution(job, 'chain', null, '', new Date());
    const execution = { ...withSteps(skipped, { ...job, steps: undefined }, extra), reason: 'paused' as const, error: `skipped: job ${job.id} is paused` };
    await this.store.addExecution(execution, job.history_limit);
    this.events.emit('execution:skipped', { execution });
    return execution;
  }

  private async skip(job: Job, trigger: Trigger, scheduledAt: Date | null, busy: Entry, extra: TriggerExtra): Promise<Execution> {
    const skipped = skippedExecution(job, trigger, scheduledAt, busy.execution.id, new Date());
    const execution = {
      ...withSteps(skipped, { ...job, steps: undefined }, extra),
      error: `skipped: execution ${busy.execution.id} still ${busy.state}`,
    };
    // Never changed again: the store freezes it, and the event and the caller share it (no copies,
    // which 10,000 skipped runs a second would pay for).
    await this.store.addExecution(execution, job.history_limit);
    this.events.emit('execution:skipped', { execution });
    return execution;
  }

  /** Cancels one execution: a queued one is recorded at once with `whyQueued`, a running one is stopped. */
  private stopEntry(entry: Entry, whyQueued: string): Promise<Execution> {
    if (entry.state === 'running') {
      entry.controller.abort();
      return entry.done;
    }
    if (entry.state === 'gated') {
      entry.controller.abort();
      // Queued for a slot after its gate: it goes on without one, to record its cancel.
      if (entry.resume && this.waiting.delete(entry)) entry.resume();
      return entry.done;
    }
    // Out of the queue synchronously, so no slot freed from now on can start it; not in it = already cancelled.
    if (this.waiting.delete(entry)) void this.cancelQueued(entry, whyQueued);
    return entry.done;
  }

  private async cancelQueued(entry: Entry, why: string): Promise<void> {
    try {
      // Its first record must be stored before it can be replaced.
      await entry.recorded;
    } catch {
      return; // start() recorded nothing and settled it
    }
    const final = cancelledQueuedExecution(entry.execution, why, new Date());
    await this.record(final);
    this.finish(entry, final);
  }

  /** Gives freed slots to the oldest queued executions. */
  private releaseSlot(): void {
    this.slotsInUse--;
    while (this.slotsInUse < this.maxConcurrency && this.waiting.size > 0) {
      const next = this.waiting.values().next().value!;
      this.waiting.delete(next);
      if (next.resume) {
        // A gated execution taking its slot back, not a start.
        next.state = 'running';
        this.slotsInUse++;
        next.resume();
        continue;
      }
      next.state = 'running';
      next.execution = dequeuedExecution(next.execution, new Date());
      this.slotsInUse++;
      this.launch(next).catch((err: unknown) => this.report(`starting queued execution ${next.execution.id}`, err));
    }
  }

  /** Starts a queued execution that was just given a slot. Never rejects. */
  private async launch(entry: Entry): Promise<void> {
    try {
      await entry.recorded;
    } catch {
      this.releaseSlot(); // start() threw the error to its caller and settled the execution
      return;
    }
    try {
      await this.store.updateExecution(snapshot(entry.execution));
    } catch (err) {
      // Not started unless the store knows it started, as for one that starts at once.
      this.report(`starting queued execution ${entry.execution.id} of job ${entry.job.id}`, err);
      const final = brokenExecution(entry.execution, err, new Date());
      await this.record(final);
      this.finish(entry, final);
      return;
    }
    this.events.emit('execution:started', { execution: snapshot(entry.execution) });
    await this.execute(entry);
  }

  /** Runs the attempts (or the steps) and records the end. Never rejects: whatever breaks is recorded and reported. */
  private async execute(entry: Entry): Promise<void> {
    const { job, controller } = entry;
    const id = entry.execution.id;
    let log: ExecutionLog | undefined;
    let final: Execution;
    try {
      const logPath = this.store.logPath(job.id, id);
      // Ours last: a job cannot pose as another execution to crash recovery.
      const reserved = { [EXECUTION_ID_ENV]: id };
      const overrides = { ...entry.extra.parameters, ...entry.extra.environment };
      log = this.openLog(logPath, job.max_output);
      const sink = log;
      if (entry.queuedAt !== null) {
        const waited = formatSeconds(Date.parse(entry.execution.started_at!) - entry.queuedAt);
        sink.note(`--- waited ${waited} in the queue: max_concurrency (${this.maxConcurrency}) executions were in progress ---`);
      }
      if (job.steps) {
        const outcome = await runSteps({
          job,
          outputsPath: `${logPath}.outputs`,
          log: sink,
          signal: controller.signal,
          overrides,
          reserved,
          records: entry.execution.steps ?? [],
          attempt: (a) => timedAttempt(entry, () => this.attempt(job, id, logPath, a, sink, controller.signal))(),
          gate: (records, _i, timeoutMs) => this.gate(entry, records, timeoutMs),
          progress: (records) => this.recordSteps(entry, records),
          stepEnded: (record) => this.events.emit('step:finished', { jobId: job.id, executionId: id, step: record }),
        });
        await this.closeLog(log, id);
        if (outcome.status === 'detached') return this.detach(entry);
        final = finishedStepsExecution(entry.execution, outcome, log.tail(), new Date());
      } else {
        const step = { command: job.command!, container: job.container ?? null, timeout: job.timeout, working_directory: job.working_directory };
        const environment = { ...job.environment, ...overrides, ...reserved };
        const outcome = await runWithRetries({
          retries: job.retries,
          retryDelayMs: job.retry_delay * 1000,
          log: sink,
          signal: controller.signal,
          attempt: timedAttempt(entry, () => this.attempt(job, id, logPath, { step, environment }, sink, controller.signal)),
          onRetry: (attempts) => this.recordProgress(entry, attempts),
        });
        await this.closeLog(log, id);
        final = finishedExecution(entry.execution, outcome, log.tail(), new Date());
      }
    } catch (err) {
      this.report(`execution ${id} of job ${job.id}`, err);
      if (log) await this.closeLog(log, id);
      final = { ...brokenExecution(entry.execution, err, new Date()), output: log?.tail() ?? '' };
    }
    await this.record(final);
    this.finish(entry, final);
  }

  /** One attempt of a command, on the host or (with `container`) in the container engine (run/container/). */
  private attempt(job: Job, id: string, logPath: string, a: AttemptSpec, log: LogSink, signal: AbortSignal): Promise<AttemptResult> {
    const { step, environment } = a;
    const command = step.command!;
    if (step.container) {
      return runContainerAttempt({
        jobId: job.id, executionId: id, container: step.container, command, environment,
        timeoutMs: step.timeout * 1000, killGraceMs: this.killGraceMs, log, signal, execRecord: execRecordPath(logPath),
      });
    }
    return runAttempt({
      command, environment, workingDirectory: step.working_directory, timeoutMs: step.timeout * 1000,
      killGraceMs: this.killGraceMs, log, signal, pidFile: pidFilePath(logPath), user: job.user ?? null,
    });
  }

  /**
   * Holds an execution at a wait step: recorded `waiting`, its slot given up, until advance(), cancel, the
   * timeout, or a shutdown (`detached`: it stays waiting in the store, resumed at the next start). Then it
   * waits for a slot again before its next step runs.
   */
  private async gate(entry: Entry, records: StepRecord[], timeoutMs: number): Promise<GateEnd> {
    entry.execution = waitingExecution(entry.execution, records);
    await this.recordNow(entry);
    if (entry.state === 'running') {
      entry.state = 'gated';
      this.releaseSlot();
    }
    this.events.emit('execution:waiting', { execution: snapshot(entry.execution) });
    // Reached while the daemon stops: left waiting for the next start, as the gates shutdown() found.
    if (this.closing) return { kind: 'detached' };
    const signal = entry.controller.signal;
    const end = await new Promise<GateEnd>((resolve) => {
      const stopTimer = setLongTimeout(() => done({ kind: 'timeout' }), timeoutMs);
      const onAbort = () => done({ kind: 'cancelled' });
      const done = (e: GateEnd) => {
        stopTimer();
        signal.removeEventListener('abort', onAbort);
        entry.endGate = undefined;
        resolve(e);
      };
      entry.endGate = done;
      if (signal.aborted) done({ kind: 'cancelled' });
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    if (end.kind === 'detached') return end;
    entry.execution = { ...entry.execution, status: 'in_progress' };
    if (!signal.aborted) await this.acquireSlot(entry);
    return end;
  }

  /** Takes a slot for a gated execution, waiting in the queue (before executions not started yet) when none is free. */
  private async acquireSlot(entry: Entry): Promise<void> {
    if (this.slotsInUse < this.maxConcurrency && this.waiting.size === 0) {
      this.slotsInUse++;
      entry.state = 'running';
      return;
    }
    await new Promise<void>((resolve) => {
      entry.resume = resolve;
      this.waiting.add(entry);
    });
    entry.resume = undefined;
  }

  /**
   * Completes the wait step an execution is held at, with `outputs` for the steps after it. Throws
   * EXECUTION_NOT_WAITING when it is not held at one (by this runner).
   */
  advance(jobId: string, executionId: string, outputs: Record<string, string>): Execution {
    const entry = this.active.get(executionId);
    if (!entry || entry.job.id !== jobId || !entry.endGate) {
      throw new WatchbellError('EXECUTION_NOT_WAITING', `execution ${executionId} of job ${jobId} is not waiting at a wait step; only a waiting execution can be advanced`);
    }
    const waiting = snapshot(entry.execution);
    entry.endGate({ kind: 'advanced', outputs: { ...outputs } });
    return waiting;
  }

  /** Takes up again, after a restart of the daemon, an execution a previous daemon left `waiting` at a wait step. */
  resumeWaiting(job: Job, execution: Execution): void {
    void this.execute(this.storedEntry(job, execution, 'gated'));
  }

  /** The active entry of an execution whose record is already stored (taken up again, or taken from the cluster's queue). */
  private storedEntry(job: Job, execution: Execution, state: Entry['state']): Entry {
    let resolveDone!: (e: Execution) => void;
    const done = new Promise<Execution>((resolve) => (resolveDone = resolve));
    const entry: Entry = {
      job, execution: snapshot(execution), state, extra: {}, queuedAt: null, recorded: Promise.resolve(),
      controller: new AbortController(), done, resolveDone,
    };
    this.addActive(entry);
    return entry;
  }

  /** Lets go of an execution held at a gate while the daemon stops: not recorded, so it stays `waiting`. */
  private detach(entry: Entry): void {
    this.removeActive(entry);
    if (entry.state === 'running') this.releaseSlot();
    entry.resolveDone(snapshot(entry.execution));
  }

  /** Keeps the step records current as the steps go on. */
  private async recordSteps(entry: Entry, records: StepRecord[]): Promise<void> {
    entry.execution = { ...entry.execution, steps: records };
    await this.recordNow(entry);
  }

  private async recordNow(entry: Entry): Promise<void> {
    try {
      await this.store.updateExecution(snapshot(entry.execution));
    } catch (err) {
      this.report(`recording progress of execution ${entry.execution.id}`, err);
    }
  }

  /**
   * Stores the final record of an execution, and a success's end in its job's state; a failure is reported,
   * not thrown. A store that refuses the write (a full disk) is tried again, RECORD_RETRY_MS apart, until it
   * takes it or shutdown gives up: the end happened, and an execution left `in_progress` would be a ghost.
   */
  private async record(final: Execution): Promise<void> {
    for (let tries = 1; ; tries++) {
      try {
        const writes = [this.store.updateExecution(snapshot(final))];
        // Still stored = its job was not deleted meanwhile (state saved for a deleted job would bring it back).
        if (final.status === 'success' && final.finished_at !== null && this.store.getExecution(final.job_id, final.id)) {
          writes.push(this.store.saveJobState(final.job_id, { last_success: final.finished_at }));
        }
        await Promise.all(writes);
        return;
      } catch (err) {
        const retry = isWatchbellError(err) && err.code === 'STORE_UNAVAILABLE' && !this.giveUp.signal.aborted;
        // The record stays unfinished on disk until a try succeeds; if none does, the next start marks it interrupted.
        if (tries === 1 || !retry) this.report(`recording execution ${final.id} of job ${final.job_id}${retry ? ' (trying again until the store takes it)' : ''}`, err);
        if (!retry || !(await delay(RECORD_RETRY_MS, this.giveUp.signal))) return;
      }
    }
  }

  /** The end of an execution, once recorded: frees its slot, tells listeners, settles whenFinished(). */
  private finish(entry: Entry, final: Execution): void {
    entry.execution = final;
    // Gone from `active` before anyone hears of the end, so a listener that triggers again is not refused.
    this.removeActive(entry);
    if (entry.state === 'running') this.releaseSlot();
    this.remember(final);
    this.events.emit('execution:finished', { execution: snapshot(final) });
    entry.resolveDone(snapshot(final));
  }

  /** Keeps attempts[] current between retries, for people looking while a long retry delay runs. */
  private async recordProgress(entry: Entry, attempts: readonly AttemptResult[]): Promise<void> {
    entry.execution = withAttempts(entry.execution, attempts);
    await this.recordNow(entry);
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
