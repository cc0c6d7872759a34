/**
 * The operations on jobs that the API, signals and the scheduler share. It keeps the three
 * sources of truth in step: the job map (config + API jobs), the scheduler's queue, and the store.
 * Past 500 lines because every operation needs that state; what does not lives beside it
 * (job-view, job-order, execution-progress, log-follow, turn-slicer).
 */
import { createHash } from 'node:crypto';
import { chainedFrom } from '../jobs/chains.js';
import { isWatchbellError, WatchbellError } from '../jobs/errors.js';
import type { Events } from '../jobs/events.js';
import { FINISHED_STATUSES, type Execution } from '../jobs/execution.js';
import { isValidExecutionId, isValidJobId, newJobId } from '../jobs/ids.js';
import { JOB_SPEC_FIELDS, type Job, type JobSort, type JobSpec, type JobStatus } from '../jobs/job.js';
import type { NotifyRule } from '../jobs/notify-rule.js';
import { isOneShot, parseSchedule } from '../jobs/schedule-spec.js';
import { parseAdvanceRequest, parseRunRequest } from '../jobs/run-request.js';
import { validateJob } from '../jobs/validate-job.js';
import type { Runner, TriggerExtra } from '../run/runner.js';
import { restartRecords } from '../run/step-run.js';
import { catchUpDecision } from '../schedule/catch-up.js';
import type { Scheduler } from '../schedule/scheduler.js';
import type { ClusterExecutions } from '../cluster/remote-executions.js';
import type { SlotClaims } from '../cluster/slot-claims.js';
import { logExists, readLogChunks } from '../store/log-reader.js';
import type { ExecutionQuery, Page, Store } from '../store/store.js';
import { chainExtra, checkApiJobChains, checkConfigChains } from './chain-checks.js';
import { cannotHaveOutput, fileSize, outputSoFar } from './execution-progress.js';
import { pageByKey } from './job-order.js';
import { toJobView, type JobView } from './job-view.js';
import { endAtShutdown, followLog } from './log-follow.js';
import { TurnSlicer } from './turn-slicer.js';

/**
 * Due jobs started per event-loop turn: a few ms of work (an event, a state line, a run or a skipped
 * record), so an API request waits about that long. 250 gave the storm bench a p99 of 31-37 ms, 100 gave
 * 19-33, 50 gives 15-20 with every slot still fired (docs/benchmarks.md).
 */
const START_SLICE = 50;

/** Executions `/tail` looks back through for one with output (a job's history is 100 by default). */
const TAIL_SEARCH = 1000;

export interface JobQuery {
  status?: JobStatus;
  tag?: string;
  q?: string;
  /** Default `id`. */
  sort?: JobSort;
  limit: number;
  offset: number;
}

/** A job from the config file, already validated. */
export interface ConfigJobInput {
  id: string;
  spec: JobSpec;
  /** Where it is defined (the config file or an included one), for messages; default: the config file. */
  place?: { file: string; line: number; col: number };
  /** Where a job from elsewhere is declared (`labels of container web`), for messages; wins over `place`. */
  where?: string;
}

export interface JobServiceOptions {
  store: Store;
  scheduler: Scheduler;
  runner: Runner;
  events: Events;
  /** Default time zone for API jobs that set none. */
  timezone: string;
  /** Shown in the 409 for edits of config jobs. */
  configFile: string;
  /** Jobs held at most (config and API together); API creates past it answer TOO_MANY_JOBS. Default: no cap. */
  maxJobs?: number;
  /** Names of the notifiers the running config declares; an API job's `notify:` must name them. Default: unchecked. */
  notifiers?: () => readonly string[];
  /** Cluster mode: a scheduled slot runs only where it is claimed. Absent (one daemon): every due slot runs here. */
  slotClaims?: SlotClaims;
  /** Cluster mode: executions running on other nodes are cancelled and read through them. */
  cluster?: ClusterExecutions;
  now?: () => Date;
}

export class JobService {
  private readonly jobs = new Map<string, Job>();
  /** `FILE:LINE:COL` where each config job is defined, for messages. */
  private readonly configPlaces = new Map<string, string>();
  /** Jobs in list order and the text `q=` searches in each, rebuilt lazily after a change. */
  private listIndex: ListIndex | null = null;
  private readonly o: JobServiceOptions;
  /** Ids and names of creates in flight: taken, as far as other requests can tell, and counted against maxJobs. */
  private readonly creating = new Map<string, string>();
  /** Per job id, the tail of a chain: changes to one job (create, update, delete, pause, resume) happen one at a time. */
  private readonly jobLocks = new Map<string, Promise<unknown>>();
  /** getJson()'s answers, per job object (replaced, never edited but for its status, when its definition changes). */
  private readonly viewJson = new WeakMap<Job, { status: JobStatus; next: number | null; last: Execution | null; json: string }>();
  /** Runs of due jobs, started a slice per event-loop turn so a second with 10,000 due jobs leaves room for the API. */
  private readonly starts = new TurnSlicer(START_SLICE, (error) => this.o.events.emit('error', { where: 'starting due jobs', error }));

  constructor(options: JobServiceOptions) {
    this.o = options;
    options.events.on('execution:finished', ({ execution }) => this.chain(execution));
  }

  private now(): Date {
    return this.o.now ? this.o.now() : new Date();
  }

  /** Loads API jobs from the store and config jobs from the file, and schedules the active ones. */
  async start(configJobs: ConfigJobInput[]): Promise<void> {
    for (const job of this.o.store.apiJobs()) {
      const state = this.o.store.jobState(job.id);
      const loaded: Job = { ...job, status: statusFrom(state) };
      this.jobs.set(job.id, loaded);
    }
    for (const job of this.jobs.values()) this.reschedule(job, true);
    await this.applyConfig(configJobs);
    await this.resumeWaiting();
    this.catchUp();
  }

  /** Executions a previous daemon left held at a wait step wait on (their gate's timeout counts from when it began). */
  private async resumeWaiting(): Promise<void> {
    const { items } = this.o.store.listAllExecutions({ status: 'waiting', limit: Number.MAX_SAFE_INTEGER, offset: 0 });
    for (const e of items) {
      const job = this.jobs.get(e.job_id);
      if (job) {
        this.o.runner.resumeWaiting(job, e);
        continue;
      }
      // Its job left the config while the daemon was down: nothing could advance it any more.
      const now = this.now();
      const steps = e.steps?.map((s) => (s.status === 'waiting' || s.status === 'pending' ? { ...s, status: 'cancelled' as const, reason: 'cancelled' as const } : s));
      await this.o.store.updateExecution({
        ...e, status: 'cancelled', reason: 'cancelled', error: `cancelled: job ${e.job_id} no longer exists`, finished_at: now.toISOString(),
        duration: e.started_at ? (now.getTime() - Date.parse(e.started_at)) / 1000 : null, ...(steps ? { steps } : {}),
      });
    }
  }

  /**
   * After downtime (of the daemon, or of its store): each active job that missed slots runs its newest
   * missed slot once (`catch_up: latest`, within `starting_deadline`); other misses are reported.
   */
  catchUp(): void {
    const now = this.now();
    for (const job of this.jobs.values()) {
      if (job.status !== 'active') continue;
      const state = this.o.store.jobState(job.id);
      const since = new Date(state.last_slot ?? job.created_at);
      const decision = catchUpDecision(job, parseSchedule(job.schedule, job.timezone), since, now);
      if (decision.action === 'run') this.fire(job, decision.slot, 'catch_up');
      else if (decision.action === 'skip') this.o.events.emit('schedule:missed', { jobId: job.id, slot: decision.slot, reason: decision.reason });
    }
  }

  /**
   * Makes the config jobs match `configJobs`: adds new ones, updates changed ones, removes
   * ones no longer in the file. Throws (changing nothing) when a config id is taken by an API job.
   */
  async applyConfig(configJobs: ConfigJobInput[]): Promise<{ added: string[]; changed: string[]; removed: string[] }> {
    this.checkNoClashWithApiJobs(configJobs);
    this.checkConfigChains(configJobs);
    return this.applyOwned('config', configJobs);
  }

  /**
   * Makes the jobs declared by container labels (daemon.docker_labels) match `labelJobs`, as applyConfig does
   * for the file. A label job whose id a config or API job has is refused (listed in `refused`), not thrown:
   * one container's labels must not hold up the others'.
   */
  async applyLabelJobs(labelJobs: ConfigJobInput[]): Promise<{ added: string[]; changed: string[]; removed: string[]; refused: Array<{ id: string; message: string }> }> {
    const refused: Array<{ id: string; message: string }> = [];
    const accepted = labelJobs.filter((l) => {
      const other = this.jobs.get(l.id);
      if (!other || other.source === 'label') return true;
      const owner = other.source === 'config' ? `defined in ${this.configPlaces.get(l.id) ?? this.o.configFile}` : 'created through the API';
      refused.push({ id: l.id, message: `${placeOf(l, this.o.configFile)}: job ${l.id} is already ${owner}; rename the container or the job in its labels` });
      return false;
    });
    return { ...(await this.applyOwned('label', accepted)), refused };
  }

  /** Adds, updates and removes the jobs of one owner (the config file, or container labels) to match `inputs`. */
  private async applyOwned(source: 'config' | 'label', inputs: ConfigJobInput[]): Promise<{ added: string[]; changed: string[]; removed: string[] }> {
    const added: string[] = [];
    const changed: string[] = [];
    const removed: string[] = [];
    const wanted = new Set(inputs.map((c) => c.id));
    for (const job of [...this.jobs.values()]) {
      if (job.source === source && !wanted.has(job.id)) {
        // Unscheduled only: a run in progress finishes, and the executions stay in the store
        // (listed by GET /executions, and under the job again if it comes back to the file).
        this.jobs.delete(job.id);
        this.configPlaces.delete(job.id);
        this.o.scheduler.remove(job.id);
        removed.push(job.id);
      }
    }
    const nowIso = this.now().toISOString();
    const writes: Promise<void>[] = [];
    for (const input of inputs) {
      const { id, spec } = input;
      const fingerprint = digest(spec);
      const state = this.o.store.jobState(id);
      const old = this.jobs.get(id);
      // The stored fingerprint tells a job changed while the daemon was down from one that did not.
      const edited = state.fingerprint !== fingerprint;
      if (edited) {
        const scheduleEdited = state.completed && old !== undefined && old.schedule !== spec.schedule;
        // Not awaited one by one: the store changes its memory at once and writes 100,000 of these together.
        writes.push(this.o.store.saveJobState(id, {
          fingerprint,
          created_at: state.created_at ?? nowIso,
          updated_at: nowIso,
          // A one-shot job given a new instant is due again.
          ...(scheduleEdited ? { completed: false } : {}),
        }));
      }
      const saved = this.o.store.jobState(id);
      const job: Job = {
        id, source, ...spec, status: statusFrom(saved),
        created_at: saved.created_at ?? nowIso, updated_at: saved.updated_at ?? nowIso,
      };
      this.jobs.set(id, job);
      this.configPlaces.set(id, placeOf(input, this.o.configFile));
      const redefined = old !== undefined && digest(old) !== fingerprint;
      if (!old) added.push(id);
      else if (redefined) changed.push(id);
      if (!old || edited || redefined) this.reschedule(job, true);
    }
    this.listIndex = null;
    await Promise.all(writes);
    return { added, changed, removed };
  }

  /**
   * A config job may not take the id or the name of an API job: the reload (or start) fails with
   * 409 JOB_EXISTS naming both, before anything changes.
   */
  private checkNoClashWithApiJobs(configJobs: ConfigJobInput[]): void {
    const apiNames = new Map<string, string>();
    for (const job of this.jobs.values()) if (job.source === 'api') apiNames.set(job.name, job.id);
    const details: Array<{ path: string; message: string }> = [];
    for (const c of configJobs) {
      const where = placeOf(c, this.o.configFile);
      if (this.jobs.get(c.id)?.source === 'api') {
        details.push({ path: `/jobs/${c.id}`, message: `${where}: job ${c.id} is defined in the config, and a job ${c.id} was created through the API; rename the job in the file, or delete the API job (DELETE /api/v1/jobs/${c.id}), then reload` });
      }
      const named = apiNames.get(c.spec.name);
      if (named !== undefined && named !== c.id) {
        details.push({ path: `/jobs/${c.id}/name`, message: `${where}: job ${c.id} has the name ${JSON.stringify(c.spec.name)}, already the name of job ${named}, created through the API; names must be unique` });
      }
    }
    if (details.length) {
      throw new WatchbellError('JOB_EXISTS', details.map((d) => d.message).join('\n'), { details });
    }
  }

  /** Chains of the config as it would be applied (chain-checks.ts); throws before anything changes. */
  private checkConfigChains(configJobs: ConfigJobInput[]): void {
    checkConfigChains(this.jobs, configJobs.map((c) => ({ id: c.id, spec: c.spec, place: placeOf(c, this.o.configFile) })));
  }

  /** An API job's chains, as it would be saved (chain-checks.ts). */
  private checkChains(id: string, spec: JobSpec): void {
    checkApiJobChains(this.jobs, id, spec);
  }

  /** Jobs filtered, in the order `sort` asks (id order by default), and paged. */
  list(query: JobQuery): Page<JobView> {
    const sort = query.sort ?? 'id';
    const { jobs } = this.index();
    const filtered = Boolean(query.q) || query.status !== undefined || query.tag !== undefined;
    if (sort === 'id' && !filtered) {
      // Unfiltered: a page of the sorted jobs, without walking the other 100,000.
      return { items: jobs.slice(query.offset, query.offset + query.limit).map((j) => this.view(j)), total: jobs.length };
    }
    if (sort === 'id') {
      // One pass, counting every match but keeping only the page: `q=` over 100,000 jobs in a few ms.
      const page: Job[] = [];
      const total = this.matching(query, (i, seen) => {
        if (seen >= query.offset && seen < query.offset + query.limit) page.push(jobs[i]!);
      });
      return { items: page.map((j) => this.view(j)), total };
    }
    if (sort === 'next_run' && !filtered) return this.pageByNextRun(query.offset, query.limit);
    if (sort === '-created_at' && !filtered) {
      // Creation times change only with the job set, so the whole order is kept with the index: a deep page is a slice.
      const index = this.index();
      index.createdOrder ??= pageByKey(this.allPositions(), this.sortKeys(sort, []), 0, jobs.length);
      return { items: index.createdOrder.slice(query.offset, query.offset + query.limit).map((i) => this.view(jobs[i]!)), total: jobs.length };
    }
    let candidates: ArrayLike<number>;
    if (filtered) {
      const found: number[] = [];
      this.matching(query, (i) => found.push(i));
      candidates = found;
    } else candidates = this.allPositions();
    const keys = this.sortKeys(sort, candidates);
    const page = pageByKey(candidates, keys, query.offset, query.limit);
    return { items: page.map((i) => this.view(jobs[i]!)), total: candidates.length };
  }

  /**
   * Every job by next run, read from the scheduler's queue, which holds them in that order: a first page
   * costs the page, not a key for each of 100,000 jobs. Jobs without a next run follow, in id order.
   */
  private pageByNextRun(offset: number, limit: number): Page<JobView> {
    const end = offset + limit;
    const page: Job[] = [];
    let seen = 0;
    for (const id of this.o.scheduler.byNextRun()) {
      const job = this.jobs.get(id);
      if (job?.status !== 'active') continue;
      if (seen >= offset) page.push(job);
      if (++seen >= end) break;
    }
    if (seen < end) {
      // The page reaches past the scheduled jobs: on into the others, in id order.
      for (const job of this.index().jobs) {
        if (job.status === 'active' && this.o.scheduler.nextRunMs(job.id) !== null) continue;
        if (seen >= offset) page.push(job);
        if (++seen >= end) break;
      }
    }
    return { items: page.map((j) => this.view(j)), total: this.jobs.size };
  }

  /** Calls `found(position, matchesBefore)` for each job of index() that passes the filters; returns how many did. */
  private matching(query: JobQuery, found: (position: number, seen: number) => void): number {
    const needle = query.q?.toLowerCase();
    const { jobs } = this.index();
    const texts = needle ? this.searchTexts() : null;
    let total = 0;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!;
      if (query.status && job.status !== query.status) continue;
      if (query.tag !== undefined && !job.tags.includes(query.tag)) continue;
      if (texts && !texts[i]!.includes(needle!)) continue;
      found(i, total++);
    }
    return total;
  }

  /** 0..n-1 over index(), kept with it. */
  private allPositions(): Uint32Array {
    const index = this.index();
    if (!index.positions) {
      index.positions = new Uint32Array(index.jobs.length);
      for (let i = 0; i < index.jobs.length; i++) index.positions[i] = i;
    }
    return index.positions;
  }

  /**
   * Per position of index(), the key `sort` orders by (ascending; Infinity for jobs without one), filled in
   * for `candidates` only. Creation times are kept with the index; next and last runs change as jobs fire.
   */
  private sortKeys(sort: Exclude<JobSort, 'id'>, candidates: ArrayLike<number>): Float64Array {
    const index = this.index();
    if (sort === '-created_at') {
      index.created ??= Float64Array.from(index.jobs, (j) => -Date.parse(j.created_at));
      return index.created;
    }
    const keys = new Float64Array(index.jobs.length);
    for (let c = 0; c < candidates.length; c++) {
      const i = candidates[c]!;
      const job = index.jobs[i]!;
      if (sort === 'next_run') {
        keys[i] = job.status === 'active' ? (this.o.scheduler.nextRunMs(job.id) ?? Infinity) : Infinity;
      } else {
        const last = this.lastRun(job);
        const at = last ? Date.parse(last.started_at ?? last.finished_at ?? '') : NaN;
        keys[i] = Number.isNaN(at) ? Infinity : -at;
      }
    }
    return keys;
  }

  /** One job as the API shows it. */
  get(id: string): JobView {
    return this.view(this.job(id));
  }

  /**
   * `{"data": <the job as the API shows it>}` as JSON text, remembered until the job, its status, its
   * next run or its last run changes: serializing the view was an eighth of a `GET /jobs/{id}`.
   */
  getJson(id: string): string {
    const job = this.job(id);
    const nextRun = this.o.scheduler.nextRun(job.id);
    const next = nextRun?.getTime() ?? null;
    const last = this.lastRun(job);
    const cached = this.viewJson.get(job);
    if (cached && cached.status === job.status && cached.next === next && cached.last === last) return cached.json;
    const json = JSON.stringify({ data: toJobView(job, nextRun, last) });
    this.viewJson.set(job, { status: job.status, next, last, json });
    return json;
  }

  /** One job as the API shows it, or undefined when there is none (deleted meanwhile). */
  find(id: string): JobView | undefined {
    const job = this.jobs.get(id);
    return job ? this.view(job) : undefined;
  }

  /** A job's `notify:` rules ([] for none or an unknown job), without building its view. */
  notifyRules(id: string): readonly NotifyRule[] {
    return this.jobs.get(id)?.notify ?? [];
  }

  /** Every job held (config, label and API), for cluster mode's placement checks. */
  definitions(): IterableIterator<Job> {
    return this.jobs.values();
  }

  /** One held job's definition, or undefined. */
  definition(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /** Counts by status, for /health. */
  counts(): Record<JobStatus | 'total', number> {
    const c = { total: 0, active: 0, paused: 0, completed: 0 };
    for (const job of this.jobs.values()) {
      c.total++;
      c[job.status]++;
    }
    return c;
  }

  /** Creates an API job from a request body. */
  async create(body: unknown): Promise<JobView> {
    const v = validateJob(body, { timezone: this.o.timezone, notifiers: this.o.notifiers?.() });
    const id = v.id ?? this.freshId();
    if (this.jobs.has(id) || this.creating.has(id)) {
      const src = this.jobs.get(id)?.source;
      const owner = src === 'config' || src === 'label' ? ` (defined in ${this.configPlaces.get(id) ?? this.o.configFile})` : '';
      throw new WatchbellError('JOB_EXISTS', `job ${id} already exists${owner}; choose another id or update it with PUT /api/v1/jobs/${id}`);
    }
    const spec = { ...v.spec, name: v.spec.name || id };
    this.checkNameFree(spec.name, id);
    this.checkNotPast(spec);
    this.checkChains(id, spec);
    this.checkRoomForOneMore();
    // Claimed before anything awaits, so concurrent creates see this one (its id, its name, the cap).
    this.creating.set(id, spec.name);
    return this.oneAtATime(id, () => this.insertApiJob(id, spec, v.status)).finally(() => this.creating.delete(id));
  }

  private async insertApiJob(id: string, spec: JobSpec, status: JobStatus | undefined): Promise<JobView> {
    const nowIso = this.now().toISOString();
    const job: Job = { id, source: 'api', ...spec, status: status ?? 'active', created_at: nowIso, updated_at: nowIso };
    // The id may be that of a config job removed from the file, whose state the store keeps.
    const leftover = this.o.store.jobState(id);
    const wanted = { paused: job.status === 'paused', completed: false };
    await this.saveWithStatus(job, leftover, job.status === 'paused' || leftover.paused || leftover.completed ? wanted : null);
    this.jobs.set(id, job);
    this.listIndex = null;
    this.reschedule(job);
    this.o.events.emit('job:changed', { jobId: id, change: 'created' });
    return this.view(job);
  }

  /**
   * Saves an API job's definition, and first its status when `status` is given. Two writes: were the
   * definition refused (a full disk answers 503), the status is put back as it was, so a refused create
   * or update leaves nothing behind (a status alone, without a definition, is not a job).
   */
  private async saveWithStatus(job: Job, before: { paused?: boolean; completed?: boolean }, status: { paused: boolean; completed: boolean } | null): Promise<void> {
    if (status) await this.o.store.saveJobState(job.id, status);
    try {
      await this.o.store.saveApiJob(job);
    } catch (err) {
      if (status) await this.o.store.saveJobState(job.id, { paused: Boolean(before.paused), completed: Boolean(before.completed) }).catch(() => undefined);
      throw err;
    }
  }

  /** Updates an API job: fields given replace, fields left out keep their value. */
  update(id: string, body: unknown): Promise<JobView> {
    return this.oneAtATime(id, () => this.updateNow(id, body));
  }

  private async updateNow(id: string, body: unknown): Promise<JobView> {
    const old = this.ownedByApi(id, 'update');
    if (body && typeof body === 'object' && 'id' in body && (body as { id: unknown }).id !== id) {
      throw new WatchbellError('VALIDATION_FAILED', `id: a job's id cannot change (it is ${id}); create a new job instead`, {
        details: [{ path: '/id', message: `id: a job's id cannot change (it is ${id})` }],
      });
    }
    const { id: _ignored, ...rest } = (body ?? {}) as Record<string, unknown>;
    const v = validateJob(rest, { timezone: this.o.timezone, existing: old, notifiers: this.o.notifiers?.() });
    const spec = { ...v.spec, name: typeof rest.name === 'string' ? rest.name : old.name };
    this.checkNameFree(spec.name, id);
    this.checkChains(id, spec);
    const scheduleChanged = spec.schedule !== old.schedule || spec.timezone !== old.timezone;
    if (scheduleChanged) this.checkNotPast(spec);
    // As pause/resume refuse: an `active` one-shot job with no slot left would sit there with next_run null.
    if (old.status === 'completed' && !scheduleChanged && v.status !== undefined) throw completedError(id);
    let status: JobStatus = v.status ?? (old.status === 'completed' && scheduleChanged ? 'active' : old.status);
    if (old.status === 'completed' && !scheduleChanged && v.status === undefined) status = 'completed';
    const job: Job = { ...old, ...spec, status, updated_at: this.now().toISOString() };
    const before = this.o.store.jobState(id);
    const wanted = { paused: status === 'paused', completed: status === 'completed' };
    const changes = Boolean(before.paused) !== wanted.paused || Boolean(before.completed) !== wanted.completed;
    await this.saveWithStatus(job, before, changes ? wanted : null);
    this.jobs.set(id, job);
    this.listIndex = null;
    this.reschedule(job);
    this.o.events.emit('job:changed', { jobId: id, change: 'changed' });
    return this.view(job);
  }

  /** Deletes an API job, cancelling its running executions, with its history and logs. */
  delete(id: string): Promise<void> {
    return this.oneAtATime(id, () => this.deleteNow(id));
  }

  private async deleteNow(id: string): Promise<void> {
    const job = this.ownedByApi(id, 'delete');
    const from = chainedFrom(this.jobs, id);
    if (from.length) {
      throw new WatchbellError('JOB_CHAINED', `job ${id} is chained to by ${from.map((j) => `job ${j}`).join(', ')} (on_success / on_failure); remove it from their chains first`);
    }
    this.o.scheduler.remove(id);
    this.jobs.delete(id);
    this.listIndex = null;
    await this.o.runner.cancelJob(id);
    try {
      await this.o.store.deleteJob(id);
    } catch (err) {
      // Refused (a full disk): the job is still stored, so it is still here and scheduled; only its running executions were cancelled.
      this.jobs.set(id, job);
      this.listIndex = null;
      this.reschedule(job);
      throw err;
    }
    this.o.events.emit('job:changed', { jobId: id, change: 'deleted' });
  }

  /** Runs a job now, paused or not; a body's `environment` overrides the job's for this execution. */
  async run(id: string, body?: unknown): Promise<Execution> {
    const job = this.job(id);
    const parameters = parseRunRequest(body);
    return this.startRun(job, 'manual', parameters ? { parameters } : {});
  }

  /**
   * A new execution (`trigger: restart`) of a failed, cancelled or interrupted one, reusing the steps that
   * succeeded (and did not change since) with their outputs; a job without steps runs its command again.
   */
  async restart(id: string, executionId: string): Promise<Execution> {
    const job = this.job(id);
    const e = this.execution(id, executionId);
    if (e.status !== 'failure' && e.status !== 'cancelled') {
      const why = e.status === 'success' ? 'it succeeded' : FINISHED_STATUSES.has(e.status) ? `it was ${e.status}` : `it is still ${e.status}`;
      throw new WatchbellError('EXECUTION_NOT_RESTARTABLE', `execution ${executionId} cannot be restarted: ${why}; only a failed, cancelled or interrupted execution can`);
    }
    const extra: TriggerExtra = { restartedFrom: executionId };
    if (job.steps) extra.steps = restartRecords(job, e.steps ?? []);
    return this.startRun(job, 'restart', extra);
  }

  /** Starts a run that is not a slot: here, or in a cluster on a node the job's run_on allows. */
  private startRun(job: Job, trigger: 'manual' | 'restart' | 'chain', extra: TriggerExtra): Promise<Execution> {
    if (this.o.slotClaims) return this.o.slotClaims.startUnscheduled(job, trigger, extra);
    return this.o.runner.trigger(job, trigger, null, extra);
  }

  /**
   * Completes the wait step an execution is held at, with the body's `outputs`; in a cluster, through the
   * node holding it (`authorization` is handed on to it).
   */
  async advance(id: string, executionId: string, body?: unknown, authorization?: string): Promise<Execution> {
    const e = this.execution(id, executionId);
    const outputs = parseAdvanceRequest(body);
    if (e.status !== 'waiting') {
      throw new WatchbellError('EXECUTION_NOT_WAITING', `execution ${executionId} is ${e.status}, not waiting at a wait step; only a waiting execution can be advanced`);
    }
    if (this.o.cluster?.elsewhere(e)) {
      await this.o.cluster.advance(e, outputs, authorization);
      return e;
    }
    return this.o.runner.advance(id, executionId, outputs);
  }

  /** Starts the executions an ended one chains to (on_success / on_failure), with its outputs as WATCHBELL_UPSTREAM_<KEY>. */
  private chain(e: Execution): void {
    const job = this.jobs.get(e.job_id);
    const targets = e.status === 'success' ? job?.on_success : e.status === 'failure' ? job?.on_failure : undefined;
    if (!targets?.length) return;
    const extra = chainExtra(e);
    const report = (id: string) => (error: unknown) => this.o.events.emit('error', { where: `chaining job ${e.job_id} to job ${id}`, error });
    for (const id of targets) {
      const target = this.jobs.get(id);
      if (!target) report(id)(new WatchbellError('JOB_NOT_FOUND', `job ${e.job_id} chains to job ${id}, which does not exist`));
      else if (target.status === 'paused') this.o.runner.skipPaused(target, extra).catch(report(id));
      else this.startRun(target, 'chain', extra).catch(report(id));
    }
  }

  /** Stops scheduling a job until it is resumed; survives restarts and reloads. */
  pause(id: string): Promise<JobView> {
    return this.setPaused(id, true);
  }

  /** Schedules a paused job again from now on. */
  resume(id: string): Promise<JobView> {
    return this.setPaused(id, false);
  }

  private setPaused(id: string, paused: boolean): Promise<JobView> {
    return this.oneAtATime(id, () => this.setPausedNow(id, paused));
  }

  private async setPausedNow(id: string, paused: boolean): Promise<JobView> {
    const job = this.job(id);
    if (job.status === 'completed') throw completedError(id);
    await this.o.store.saveJobState(id, { paused });
    job.status = paused ? 'paused' : 'active';
    this.reschedule(job);
    this.o.events.emit('job:changed', { jobId: id, change: paused ? 'paused' : 'resumed' });
    return this.view(job);
  }

  /**
   * Cluster mode: another node changed this job in the store (cluster/apply-changes.ts). An API job is added,
   * replaced or removed as its stored definition says; any job takes its stored paused or completed state,
   * so a pause on one node stops every node firing it. Nothing is written: the store holds it already.
   */
  syncJob(id: string, definition?: { stored: Job | undefined }): void {
    const current = this.jobs.get(id);
    // A config job keeps this node's definition (an API job of another node never takes its id here).
    if (current && current.source !== 'api') definition = undefined;
    const stored = definition?.stored;
    if (definition && !stored) {
      if (!current) return;
      this.o.scheduler.remove(id);
      this.jobs.delete(id);
      this.listIndex = null;
      void this.o.runner.cancelJob(id).catch(() => undefined);
      this.o.events.emit('job:changed', { jobId: id, change: 'deleted' });
      return;
    }
    const status = statusFrom(this.o.store.jobState(id));
    if (stored) {
      const job: Job = { ...stored, status };
      this.jobs.set(id, job);
      this.listIndex = null;
      this.reschedule(job);
      this.o.events.emit('job:changed', { jobId: id, change: current ? 'changed' : 'created' });
    } else if (current && current.status !== status) {
      current.status = status;
      this.reschedule(current);
      this.o.events.emit('job:changed', { jobId: id, change: status === 'paused' ? 'paused' : status === 'active' ? 'resumed' : 'changed' });
    }
  }

  /** A job's executions, newest first. */
  executions(id: string, query: ExecutionQuery): Page<Execution> {
    this.job(id);
    return this.o.store.listExecutions(id, query);
  }

  /** Executions of all jobs, newest first. */
  allExecutions(query: ExecutionQuery): Page<Execution> {
    return this.o.store.listAllExecutions(query);
  }

  /** One execution of a job. */
  execution(id: string, executionId: string): Execution {
    this.job(id);
    if (!isValidExecutionId(executionId)) {
      throw new WatchbellError('EXECUTION_NOT_FOUND', `job ${id} has no execution ${clipped(executionId)}: not a valid execution id (exec- and 20 characters of 0-9 a-z)`);
    }
    const e = this.o.store.getExecution(id, executionId);
    if (!e) throw new WatchbellError('EXECUTION_NOT_FOUND', `job ${id} has no execution ${executionId}`);
    return e;
  }

  /** Stops a queued or running execution. */
  async cancel(id: string, executionId: string): Promise<Execution> {
    const e = this.execution(id, executionId);
    if (FINISHED_STATUSES.has(e.status)) {
      throw new WatchbellError('EXECUTION_FINISHED', `execution ${executionId} already finished with status ${e.status}`);
    }
    // Cluster mode: queued without a node = in the shared queue, where no runner holds it yet.
    if (e.status === 'queued' && e.node === undefined && this.o.slotClaims) {
      const cancelled = await this.o.slotClaims.cancelQueued(id, executionId);
      if (cancelled) return cancelled;
    }
    if (this.o.cluster?.elsewhere(e)) return this.o.cluster.cancel(e);
    return this.o.runner.cancel(id, executionId);
  }

  /**
   * An execution's log, whole, one stream, its last lines, or one step's part, as chunks read from the file as
   * the consumer takes them (store/log-reader.ts). Throws LOG_MISSING when
   * the execution wrote output but its log file is gone.
   */
  async log(id: string, executionId: string, options: LogOptions): Promise<AsyncIterable<Buffer>> {
    const execution = this.execution(id, executionId);
    if (this.o.cluster?.elsewhere(execution)) return this.o.cluster.log(execution, { ...options, follow: false }, options.authorization, options.signal);
    const path = this.o.store.logPath(id, executionId);
    await this.o.store.prepareLog?.(id, executionId);
    await checkLogPresent(execution, path);
    // A step the execution does not have has no part of its log: empty (as a stream with no output).
    if (options.step !== undefined && !execution.steps?.some((s) => s.name === options.step)) return noBytes();
    return readLogChunks(path, options);
  }

  /**
   * The last `n` lines of the newest execution's log that has any output, and that execution. A skipped
   * overlap, or a run still queued, is newer than the run in progress but has no log: it must not hide it.
   * With no output anywhere, the newest execution and ''.
   */
  async tail(id: string, n: number): Promise<{ execution: Execution | null; text: AsyncIterable<Buffer> }> {
    this.job(id);
    const { items } = this.o.store.listExecutions(id, { limit: TAIL_SEARCH, offset: 0 });
    for (const e of items) {
      if (cannotHaveOutput(e)) continue;
      const path = this.o.store.logPath(id, e.id);
      await this.o.store.prepareLog?.(id, e.id);
      if ((await fileSize(path)) > 0) return { execution: e, text: readLogChunks(path, { tail: n }) };
    }
    return { execution: items[0] ?? null, text: noBytes() };
  }

  /**
   * Executions as they are now: a running one gets its attempt in progress (`finished_at: null`) and
   * `output`, the tail of its log so far; its stored record has both only once it ends.
   */
  async withProgress(executions: readonly Execution[]): Promise<Execution[]> {
    return Promise.all(executions.map(async (e) => {
      if (e.status !== 'in_progress' && e.status !== 'waiting') return e;
      const live = this.o.runner.progress(e.id) ?? e;
      return { ...live, output: await outputSoFar(this.o.store.logPath(e.job_id, e.id)) };
    }));
  }

  /** Called by the scheduler when a slot of a job is due. */
  onDue(id: string, slot: Date): void {
    const job = this.jobs.get(id);
    if (!job || job.status !== 'active') return;
    this.fire(job, slot, 'schedule');
  }

  /**
   * Queues a run for a slot. Only what must be seen at once happens here (a one-shot job is completed);
   * the rest waits for the run's slice: the scheduler hands over 10,000 due jobs in one call, and even
   * 5 us each would hold the API for 50 ms.
   */
  private fire(job: Job, slot: Date, trigger: 'schedule' | 'catch_up'): void {
    const firedAt = this.now();
    const once = isOneShot(job.schedule);
    if (once) job.status = 'completed';
    this.starts.push(() => this.startDue(job, slot, trigger, firedAt, once));
  }

  /** Starts a queued run, remembering the slot first so a restart never runs it again. */
  private startDue(job: Job, slot: Date, trigger: 'schedule' | 'catch_up', firedAt: Date, once: boolean): void {
    const claims = this.o.slotClaims;
    if (!claims) return this.runDue(job, slot, trigger, firedAt, once);
    // Every node fires the slot; the one whose claim the database takes runs it, the others forget it.
    claims.claim(job.id, slot).then(
      (won) => {
        if (won) this.runDue(job, slot, trigger, firedAt, once, () => claims.start(job, trigger, slot, won));
      },
      (err: unknown) => this.o.events.emit('schedule:missed', { jobId: job.id, slot, reason: 'store_unavailable', error: (err as Error).message }),
    );
  }

  /** Runs a due slot (claimed, in a cluster, and started where `start` puts it). */
  private runDue(job: Job, slot: Date, trigger: 'schedule' | 'catch_up', firedAt: Date, once: boolean, start = () => this.o.runner.trigger(job, trigger, slot)): void {
    const id = job.id;
    // Deleted while it waited for its slice: its history is gone, and a run now would start one anew.
    if (!this.jobs.has(id)) return;
    const report = (where: string) => (error: unknown) => this.o.events.emit('error', { where, error });
    const patch = once ? { last_slot: slot.toISOString(), completed: true } : { last_slot: slot.toISOString() };
    this.o.events.emit('job:due', { jobId: id, slot, firedAt, trigger });
    this.o.store.saveJobState(id, patch).catch((err: unknown) => {
      // The run's start fails the same way and is logged as missed: one line per slot, not two.
      if (!(isWatchbellError(err) && err.code === 'STORE_UNAVAILABLE')) report(`saving state of job ${id}`)(err);
    });
    start().catch((err: unknown) => {
      // Not run, and its last_slot not recorded either: catch_up decides about it once the store is back (daemon.ts).
      if (isWatchbellError(err) && err.code === 'STORE_UNAVAILABLE') {
        this.o.events.emit('schedule:missed', { jobId: id, slot, reason: 'store_unavailable', error: err.message });
      } else report(`running job ${id}`)(err);
    });
  }

  private view(job: Job): JobView {
    return toJobView(job, this.o.scheduler.nextRun(job.id), this.lastRun(job));
  }

  private lastRun(job: Job): Execution | null {
    return this.o.store.latestExecution(job.id, (e) => FINISHED_STATUSES.has(e.status) && e.status !== 'skipped') ?? null;
  }

  private job(id: string): Job {
    // An id that could not be one is not found either (docs/api.md's table), with the reason why.
    if (!isValidJobId(id)) throw new WatchbellError('JOB_NOT_FOUND', `no job with id ${clipped(id)}: not a valid job id; ${JOB_ID_RULE}`);
    const job = this.jobs.get(id);
    if (!job) throw new WatchbellError('JOB_NOT_FOUND', `no job with id ${JSON.stringify(id)}`);
    return job;
  }

  private ownedByApi(id: string, action: 'update' | 'delete'): Job {
    const job = this.job(id);
    if (job.source === 'label') {
      const where = this.configPlaces.get(id) ?? 'container labels';
      throw new WatchbellError('JOB_OWNED_BY_LABEL', `job ${id} is declared by the ${where}; ${action === 'update' ? 'change the labels and recreate the container' : 'remove the labels, or the container'} (daemon.docker_labels)`);
    }
    if (job.source === 'config') {
      const where = this.configPlaces.get(id) ?? this.o.configFile;
      throw new WatchbellError('JOB_OWNED_BY_CONFIG', `job ${id} is defined in ${where}; ${action === 'update' ? 'edit' : 'remove'} it there and reload (SIGHUP or POST /api/v1/config/reload)`);
    }
    return job;
  }

  private reschedule(job: Job, bulk = false): void {
    if (job.status === 'active') {
      const nextRun = this.o.scheduler.set(job, this.now());
      this.o.events.emit('job:scheduled', bulk ? { jobId: job.id, nextRun, bulk } : { jobId: job.id, nextRun });
    } else this.o.scheduler.remove(job.id);
  }

  /** A cap on jobs keeps a runaway or hostile client from filling memory, the data dir and the scheduler's queue. */
  private checkRoomForOneMore(): void {
    const max = this.o.maxJobs ?? Infinity;
    const held = this.jobs.size + this.creating.size;
    if (held >= max) {
      throw new WatchbellError('TOO_MANY_JOBS', `the daemon already holds ${held} jobs, its limit (daemon.max_jobs: ${max}); delete jobs or raise daemon.max_jobs in the config`);
    }
  }

  /**
   * Runs `change` once earlier changes to the same job id have settled. Each change awaits the store, and
   * interleaved they would undo each other: an update finishing after a delete would bring the job back.
   */
  private oneAtATime<T>(id: string, change: () => Promise<T>): Promise<T> {
    const previous = this.jobLocks.get(id) ?? Promise.resolve();
    const result = previous.then(change);
    const tail = result.catch(() => undefined);
    this.jobLocks.set(id, tail);
    void tail.then(() => {
      if (this.jobLocks.get(id) === tail) this.jobLocks.delete(id);
    });
    return result;
  }

  private checkNameFree(name: string, id: string): void {
    for (const other of this.jobs.values()) {
      if (other.id !== id && other.name === name) {
        throw new WatchbellError('JOB_EXISTS', `name ${JSON.stringify(name)} is already used by job ${other.id}; names must be unique`);
      }
    }
    for (const [otherId, otherName] of this.creating) {
      if (otherId !== id && otherName === name) {
        throw new WatchbellError('JOB_EXISTS', `name ${JSON.stringify(name)} is already used by job ${otherId}; names must be unique`);
      }
    }
  }

  private checkNotPast(spec: JobSpec): void {
    const s = parseSchedule(spec.schedule, spec.timezone);
    if (s.kind === 'once' && s.at <= this.now().getTime()) {
      throw new WatchbellError('VALIDATION_FAILED', `schedule: "${spec.schedule}" is in the past; a one-shot job needs a future instant`, {
        details: [{ path: '/schedule', message: `schedule: "${spec.schedule}" is in the past; expected a future ISO-8601 instant` }],
      });
    }
  }

  private freshId(): string {
    let id = newJobId();
    while (this.jobs.has(id) || this.creating.has(id)) id = newJobId();
    return id;
  }

  /** The jobs in id order (rebuilt after a job is added, replaced or removed). */
  private index(): ListIndex {
    if (!this.listIndex) {
      const ids = [...this.jobs.keys()].sort();
      this.listIndex = { jobs: ids.map((id) => this.jobs.get(id)!), texts: null, positions: null, created: null, createdOrder: null };
    }
    return this.listIndex;
  }

  /** The lowercase text `q=` searches, per job of index(), built at the first search after a change. */
  private searchTexts(): string[] {
    const index = this.index();
    index.texts ??= index.jobs.map(searchText);
    return index.texts;
  }

  /**
   * An execution's log for `follow=true`. For a finished execution, the same text as log(); while
   * it is queued or running, the text so far (or its last `tail` lines) and then new output as it
   * is written, ending once the execution has ended and its log is read to the end.
   */
  async followLog(
    id: string,
    executionId: string,
    options: LogOptions & { signal: AbortSignal; stopping?: () => boolean },
  ): Promise<AsyncIterable<Buffer>> {
    const execution = this.execution(id, executionId);
    if (FINISHED_STATUSES.has(execution.status)) return this.log(id, executionId, options);
    if (this.o.cluster?.elsewhere(execution)) {
      const remote = await this.o.cluster.log(execution, { ...options, follow: true }, options.authorization, options.signal);
      return options.stopping ? endAtShutdown(remote, options.stopping) : remote;
    }
    // The runner resolves whenFinished() after closing the log, and records the end after that too,
    // so either one means the log is complete. The record is also checked in case the runner does
    // not know the execution; a record that is gone (job deleted, history trimmed) ends the follow.
    const isEnded = () => {
      const now = this.o.store.getExecution(id, executionId);
      return now === undefined || FINISHED_STATUSES.has(now.status);
    };
    return followLog({
      path: this.o.store.logPath(id, executionId),
      stream: options.stream,
      step: options.step,
      tail: options.tail,
      ended: this.o.runner.whenFinished(executionId),
      isEnded,
      stopping: options.stopping,
      signal: options.signal,
    });
  }
}

/** How a log is read; `authorization` is handed on to the node running the execution, in a cluster. */
interface LogOptions {
  stream?: 'stdout' | 'stderr';
  tail?: number;
  step?: string;
  authorization?: string;
  signal?: AbortSignal;
}

async function* noBytes(): AsyncGenerator<Buffer, void, undefined> {}

/**
 * A finished execution whose `output` is not empty wrote its log (log-file.ts creates the file at the first
 * byte, and `output` is that file's tail), so a missing file means the log was lost, not that there was none.
 * One that never printed has no file and reads as empty. A running one may not have written yet.
 */
async function checkLogPresent(execution: Execution, path: string): Promise<void> {
  if (!FINISHED_STATUSES.has(execution.status) || execution.output === '') return;
  if (await logExists(path)) return;
  throw new WatchbellError('LOG_MISSING', `the log of execution ${execution.id} is missing from the data dir; the execution wrote output, so the file was removed or lost`);
}

/** `FILE:LINE:COL` of a config job's definition, or just the config file when its place is unknown. */
function placeOf(c: ConfigJobInput, configFile: string): string {
  if (c.where !== undefined) return c.where;
  return c.place ? `${c.place.file}:${c.place.line}:${c.place.col}` : configFile;
}

/** What a job id is, for messages. */
const JOB_ID_RULE = 'ids are 1 to 63 of a-z 0-9 _ . - (lower case), starting with a letter or digit, without ".."';

function clipped(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}

function completedError(id: string): WatchbellError {
  return new WatchbellError('JOB_COMPLETED', `job ${id} is a one-shot job that has already run; give it a new schedule to run it again`);
}

function statusFrom(state: { paused?: boolean; completed?: boolean }): JobStatus {
  if (state.completed) return 'completed';
  return state.paused ? 'paused' : 'active';
}

/** Jobs in list order, and the text `q=` searches in each. */
interface ListIndex {
  jobs: Job[];
  texts: string[] | null;
  /** 0..n-1, the candidates of an unfiltered list in another order. */
  positions: Uint32Array | null;
  /** `sort=-created_at`'s keys, per position, and every position in that order. */
  created: Float64Array | null;
  createdOrder: number[] | null;
}

/** What `q=` matches: id, name, command and tags, lowercase; NUL between them, so a needle never spans two. */
function searchText(job: Job): string {
  const commands = job.steps ? job.steps.map((s) => s.command ?? '') : [job.command ?? ''];
  const command = commands.map((c) => (Array.isArray(c) ? c.join(' ') : c)).join(' ');
  return [job.id, job.name, command, ...job.tags].join('\u0000').toLowerCase();
}

const LATER_FIELDS = new Set<string>(['steps', 'on_success', 'on_failure', 'run_on']);

/** A stable digest of a job's definition (JobSpec fields only, in a fixed order); also each config job's fingerprint in a cluster. */
export function digest(job: JobSpec): string {
  // Fields added with steps count only when set, so jobs without them keep the digest they had.
  const fields = JOB_SPEC_FIELDS.filter((k) => !(LATER_FIELDS.has(k) && job[k] === undefined)).map((k) => [k, job[k]]);
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex').slice(0, 16);
}
