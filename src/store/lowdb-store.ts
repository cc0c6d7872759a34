/**
 * The embedded Store: JSON files under the data dir, written through lowdb, all data in memory.
 *
 *   api-jobs.json                          { jobs: Job[] }: definitions of API-made jobs
 *   jobs/<jobId>/executions.json           { state: JobState, executions: Execution[] } (oldest first)
 *   jobs/<jobId>/logs/<executionId>.log    its output (+ .log.idx), see log-file.ts
 *
 * One file per job keeps the cost of recording an execution at O(history_limit of that job),
 * however many executions other jobs hold.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import { WatchbellError } from '../jobs/errors.js';
import { FINISHED_STATUSES, type Execution, type ExecutionStatus } from '../jobs/execution.js';
import { isValidExecutionId, isValidJobId } from '../jobs/ids.js';
import type { Job } from '../jobs/job.js';
import { indexPath } from './log-file.js';
import type { ExecutionQuery, JobState, Page, Store } from './store.js';

interface JobFile {
  state: JobState;
  executions: Execution[];
}

interface ApiJobsFile {
  jobs: Job[];
}

const API_JOBS_FILE = 'api-jobs.json';
const JOBS_DIR = 'jobs';
const EXECUTIONS_FILE = 'executions.json';
const LOGS_DIR = 'logs';
const LOG_FILE_RE = /^(exec-[0-9a-z]{20})\.log(\.idx)?$/;
/** Job files read at once on open: enough to keep the disk busy, few enough for the fd limit. */
const OPEN_CONCURRENCY = 32;

/** One job's file and the indexes kept beside it in memory. */
class JobRecord {
  readonly db: Low<JobFile>;
  readonly byId = new Map<string, Execution>();
  readonly counts = new Map<ExecutionStatus, number>();
  /** Writes of this file not yet on disk. */
  readonly pending = new Set<Promise<unknown>>();
  readonly writer: CoalescingWriter;
  dirReady = false;

  constructor(
    readonly jobId: string,
    readonly dir: string,
  ) {
    this.db = new Low<JobFile>(new JSONFile<JobFile>(join(dir, EXECUTIONS_FILE)), { state: {}, executions: [] });
    this.writer = new CoalescingWriter(async () => {
      if (!this.dirReady) {
        await mkdir(this.dir, { recursive: true });
        this.dirReady = true;
      }
      await this.db.write();
    });
  }

  /** Oldest first: execution ids sort by creation. */
  get executions(): Execution[] {
    return this.db.data.executions;
  }

  count(status: ExecutionStatus, delta: number): void {
    this.counts.set(status, (this.counts.get(status) ?? 0) + delta);
  }

  index(): void {
    this.byId.clear();
    this.counts.clear();
    for (const e of this.executions) {
      this.byId.set(e.id, e);
      this.count(e.status, 1);
    }
  }
}

export class LowdbStore implements Store {
  private readonly dataDir: string;
  private readonly jobsDir: string;
  private readonly api: Low<ApiJobsFile>;
  private readonly apiWriter: CoalescingWriter;
  private readonly apiById = new Map<string, Job>();
  private readonly records = new Map<string, JobRecord>();
  /** Job dirs being removed; a job re-created meanwhile waits for its old dir to go first. */
  private readonly deletions = new Map<string, Promise<void>>();
  private readonly pending = new Set<Promise<unknown>>();
  private opening: Promise<void> | undefined;
  private opened = false;
  private closing: Promise<void> | undefined;

  constructor(dataDir: string) {
    this.dataDir = resolve(dataDir);
    this.jobsDir = join(this.dataDir, JOBS_DIR);
    this.api = new Low<ApiJobsFile>(new JSONFile<ApiJobsFile>(join(this.dataDir, API_JOBS_FILE)), { jobs: [] });
    this.apiWriter = new CoalescingWriter(() => {
      this.api.data = { jobs: [...this.apiById.values()] };
      return this.api.write();
    });
  }

  open(): Promise<void> {
    this.opening ??= this.load().then(() => {
      this.opened = true;
    });
    return this.opening;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.opening?.catch(() => undefined);
      // A deleteJob still running writes api-jobs.json after its rm, so loop until nothing is left.
      while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    })();
    return this.closing;
  }

  apiJobs(): Job[] {
    return [...this.apiById.values()].map((job) => structuredClone(job));
  }

  async saveApiJob(job: Job): Promise<void> {
    this.assertOpen();
    this.jobDir(job.id);
    if (job.source !== 'api') throw new TypeError(`saveApiJob: job ${job.id} has source ${job.source}; only API jobs are stored`);
    // A copy, so the caller changing its object later cannot change what is stored.
    this.apiById.set(job.id, structuredClone(job));
    await this.writeApiJobs();
  }

  async deleteJob(jobId: string): Promise<void> {
    this.assertOpen();
    const dir = this.jobDir(jobId);
    const rec = this.records.get(jobId);
    this.records.delete(jobId);
    const hadDefinition = this.apiById.delete(jobId);
    const previous = this.deletions.get(jobId);
    const removal = (async () => {
      await previous?.catch(() => undefined);
      // The definition goes first. A crash before the rm then leaves history without a job (kept, as
      // for a job removed from the config); the other order could leave a job that lost its state,
      // and a paused job would come back active (found by test/daemon/crash.test.ts).
      if (hadDefinition) await this.writeApiJobs();
      // A write still in flight would re-create the dir after rm, or fail on its missing dir.
      if (rec) await Promise.allSettled([...rec.pending]);
      await rm(dir, { recursive: true, force: true });
    })();
    this.deletions.set(jobId, removal);
    try {
      await this.track(removal);
    } finally {
      if (this.deletions.get(jobId) === removal) this.deletions.delete(jobId);
    }
  }

  jobState(jobId: string): JobState {
    return { ...this.records.get(jobId)?.db.data.state };
  }

  async saveJobState(jobId: string, patch: JobState): Promise<void> {
    this.assertOpen();
    const rec = this.record(jobId);
    rec.db.data.state = { ...rec.db.data.state, ...patch };
    await this.persist(rec);
  }

  async addExecution(execution: Execution, historyLimit: number): Promise<void> {
    this.assertOpen();
    checkExecutionId(execution.id);
    const rec = this.record(execution.job_id);
    if (rec.byId.has(execution.id)) {
      throw new Error(`addExecution: execution ${execution.id} of job ${execution.job_id} is already stored; use updateExecution`);
    }
    const stored = frozenCopy(execution);
    const list = rec.executions;
    list.splice(insertionIndex(list, stored.id), 0, stored);
    rec.byId.set(stored.id, stored);
    rec.count(stored.status, 1);
    const trimmed = trim(rec, historyLimit, stored.id);
    await this.persist(rec);
    // Only once the file no longer lists them; a crash before this leaves orphans that open() sweeps.
    await Promise.all(trimmed.map((e) => removeLog(this.logPath(e.job_id, e.id))));
  }

  async updateExecution(execution: Execution): Promise<void> {
    this.assertOpen();
    const rec = this.records.get(execution.job_id);
    const old = rec?.byId.get(execution.id);
    // Its job was deleted (or it was trimmed) while it ran: there is nothing left to update.
    if (!rec || !old) return;
    const stored = frozenCopy(execution);
    const list = rec.executions;
    list[indexOf(list, old.id)] = stored;
    rec.byId.set(stored.id, stored);
    rec.count(old.status, -1);
    rec.count(stored.status, 1);
    await this.persist(rec);
  }

  getExecution(jobId: string, executionId: string): Execution | undefined {
    return this.records.get(jobId)?.byId.get(executionId);
  }

  latestExecution(jobId: string, filter?: (e: Execution) => boolean): Execution | undefined {
    const list = this.records.get(jobId)?.executions ?? [];
    for (let i = list.length - 1; i >= 0; i--) {
      if (!filter || filter(list[i]!)) return list[i];
    }
    return undefined;
  }

  listExecutions(jobId: string, query: ExecutionQuery): Page<Execution> {
    const rec = this.records.get(jobId);
    if (!rec) return { items: [], total: 0 };
    const { status } = query;
    const { limit, offset } = paging(query);
    const list = rec.executions;
    const total = status ? (rec.counts.get(status) ?? 0) : list.length;
    const items: Execution[] = [];
    let skipped = 0;
    for (let i = list.length - 1; i >= 0 && items.length < limit; i--) {
      const e = list[i]!;
      if (status && e.status !== status) continue;
      if (skipped < offset) skipped++;
      else items.push(e);
    }
    return { items, total };
  }

  listAllExecutions(query: ExecutionQuery): Page<Execution> {
    const { status } = query;
    const { limit, offset } = paging(query);
    // A k-way merge of the per-job lists, newest first: O((offset + limit) log jobs), not O(all executions).
    const heap = new CursorHeap();
    let total = 0;
    for (const rec of this.records.values()) {
      const n = status ? (rec.counts.get(status) ?? 0) : rec.executions.length;
      if (n === 0) continue;
      total += n;
      const cursor = { list: rec.executions, i: rec.executions.length - 1 };
      if (advance(cursor, status)) heap.push(cursor);
    }
    const items: Execution[] = [];
    for (let k = 0; k < offset + limit && heap.size > 0; k++) {
      const cursor = heap.pop();
      if (k >= offset) items.push(cursor.list[cursor.i]!);
      cursor.i--;
      if (advance(cursor, status)) heap.push(cursor);
    }
    return { items, total };
  }

  unfinishedExecutions(): Execution[] {
    const out: Execution[] = [];
    for (const rec of this.records.values()) {
      if (!rec.counts.get('queued') && !rec.counts.get('in_progress')) continue;
      for (const e of rec.executions) if (!FINISHED_STATUSES.has(e.status)) out.push(e);
    }
    return out.sort((a, b) => compareIds(a.id, b.id));
  }

  logPath(jobId: string, executionId: string): string {
    checkExecutionId(executionId);
    return join(this.jobDir(jobId), LOGS_DIR, `${executionId}.log`);
  }

  async isWritable(): Promise<boolean> {
    const probe = join(this.dataDir, `.write-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await writeFile(probe, 'ok');
      await unlink(probe);
      return true;
    } catch {
      await rm(probe, { force: true }).catch(() => undefined);
      return false;
    }
  }

  private async load(): Promise<void> {
    await mkdir(this.jobsDir, { recursive: true });
    await readData(this.api, join(this.dataDir, API_JOBS_FILE));
    if (!Array.isArray(this.api.data.jobs)) throw corrupt(join(this.dataDir, API_JOBS_FILE), 'expected { "jobs": [...] }');
    for (const job of this.api.data.jobs) if (job && isValidJobId(job.id)) this.apiById.set(job.id, job);

    const dirs = (await readdir(this.jobsDir, { withFileTypes: true }))
      .filter((d) => d.isDirectory() && isValidJobId(d.name))
      .map((d) => d.name);
    await eachLimited(dirs, OPEN_CONCURRENCY, (jobId) => this.loadJob(jobId));
  }

  private async loadJob(jobId: string): Promise<void> {
    const dir = this.jobDir(jobId);
    const rec = new JobRecord(jobId, dir);
    const file = join(dir, EXECUTIONS_FILE);
    if (!(await readData(rec.db, file))) {
      // Never written completely (only a temp file or logs): nothing in it was ever acknowledged.
      await rm(dir, { recursive: true, force: true });
      return;
    }
    const data = rec.db.data as Partial<JobFile>;
    if (!Array.isArray(data.executions)) throw corrupt(file, 'expected { "state": {...}, "executions": [...] }');
    const state = data.state && typeof data.state === 'object' ? data.state : {};
    const executions = data.executions
      .filter((e) => e && isValidExecutionId(e.id))
      .sort((a, b) => compareIds(a.id, b.id))
      .map(deepFreeze);
    rec.db.data = { state, executions };
    rec.index();
    rec.dirReady = true;
    this.records.set(jobId, rec);
    await this.sweepLogs(rec);
  }

  /** Deletes logs no stored execution refers to (left by a crash between trim and unlink). */
  private async sweepLogs(rec: JobRecord): Promise<void> {
    const logsDir = join(rec.dir, LOGS_DIR);
    let names: string[];
    try {
      names = await readdir(logsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const orphans = names.filter((name) => {
      const m = LOG_FILE_RE.exec(name);
      return m !== null && !rec.byId.has(m[1]!);
    });
    await Promise.all(orphans.map((name) => rm(join(logsDir, name), { force: true })));
  }

  private assertOpen(): void {
    if (this.closing) throw new WatchbellError('STORE_UNAVAILABLE', `the store in ${this.dataDir} is closed`);
    if (!this.opened) throw new WatchbellError('STORE_UNAVAILABLE', `the store in ${this.dataDir} is not open yet; call open() first`);
  }

  /** The dir of a job, refusing ids that are invalid or would lead outside the data dir. */
  private jobDir(jobId: string): string {
    const dir = resolve(this.jobsDir, String(jobId));
    if (!isValidJobId(jobId) || dirname(dir) !== this.jobsDir) {
      throw new WatchbellError('VALIDATION_FAILED', `invalid job id ${JSON.stringify(jobId)}: expected a string matching ^[a-z0-9][a-z0-9_.-]{0,62}$ without ".."`);
    }
    return dir;
  }

  private record(jobId: string): JobRecord {
    let rec = this.records.get(jobId);
    if (!rec) {
      rec = new JobRecord(jobId, this.jobDir(jobId));
      this.records.set(jobId, rec);
    }
    return rec;
  }

  /** Writes a job's file once its old dir, if being deleted, is gone. */
  private persist(rec: JobRecord): Promise<void> {
    const removal = this.deletions.get(rec.jobId);
    const write = removal ? removal.catch(() => undefined).then(() => rec.writer.write()) : rec.writer.write();
    return this.track(write, rec.pending);
  }

  private writeApiJobs(): Promise<void> {
    return this.track(this.apiWriter.write());
  }

  /** Remembers a write until it settles, so close() and deleteJob() can wait for it. */
  private track<T>(promise: Promise<T>, also?: Set<Promise<unknown>>): Promise<T> {
    this.pending.add(promise);
    also?.add(promise);
    const forget = () => {
      this.pending.delete(promise);
      also?.delete(promise);
    };
    promise.then(forget, forget);
    return promise;
  }
}

/**
 * Serializes the writes of one file and coalesces those that arrive while one runs into a single
 * next write. lowdb's writer (steno) coalesces too, but its JSONFile serializes the data on every
 * write() call: 100 changes during one write would mean 100 JSON.stringify of the whole file.
 * `flush` serializes the data as it is when it starts, so a write() resolves once a version that
 * includes every change made before the call is on disk; steno writes a temp file and renames it
 * over the old one, so a crash at any moment leaves the old or the new file, never a torn one.
 */
class CoalescingWriter {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(private readonly flush: () => Promise<void>) {}

  write(): Promise<void> {
    // The queued write has not started, so it will still see this change.
    if (this.queued) return this.queued;
    if (!this.running) return this.start();
    const queued = this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.start();
      });
    this.queued = queued;
    return queued;
  }

  private start(): Promise<void> {
    const running = this.flush();
    this.running = running;
    const done = () => {
      if (this.running === running) this.running = undefined;
    };
    running.then(done, done);
    return running;
  }
}

/**
 * Loads a file into its Low; false when the file does not exist. Read here rather than by
 * Low.read(), which cannot tell a missing file from one holding `null`.
 */
async function readData<T>(db: Low<T>, file: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw corrupt(file, (err as Error).message, err);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw corrupt(file, 'expected a JSON object');
  db.data = data as T;
  return true;
}

function corrupt(file: string, problem: string, cause?: unknown): WatchbellError {
  return new WatchbellError(
    'STORE_UNAVAILABLE',
    `cannot load ${file}: ${problem}; restore it from a backup, or move it aside to start that part of the store empty`,
    { cause },
  );
}

function checkExecutionId(id: string): void {
  if (!isValidExecutionId(id)) {
    throw new WatchbellError('VALIDATION_FAILED', `invalid execution id ${JSON.stringify(id)}: expected "exec-" and 20 base32 characters`);
  }
}

async function removeLog(path: string): Promise<void> {
  await Promise.all([rm(path, { force: true }), rm(indexPath(path), { force: true })]);
}

/**
 * Drops the oldest finished executions beyond `historyLimit`. Queued and running ones are kept
 * even past the limit, since their runner still writes their log and will update them; so is the
 * one just added (a `skipped` beside a long run would otherwise vanish at once).
 */
function trim(rec: JobRecord, historyLimit: number, addedId: string): Execution[] {
  const limit = Number.isFinite(historyLimit) ? Math.max(1, Math.floor(historyLimit)) : Infinity;
  let excess = rec.executions.length - limit;
  if (excess <= 0) return [];
  const kept: Execution[] = [];
  const removed: Execution[] = [];
  for (const e of rec.executions) {
    if (excess > 0 && FINISHED_STATUSES.has(e.status) && e.id !== addedId) {
      removed.push(e);
      excess--;
    } else {
      kept.push(e);
    }
  }
  rec.db.data.executions = kept;
  for (const e of removed) {
    rec.byId.delete(e.id);
    rec.count(e.status, -1);
  }
  return removed;
}

/** Stored executions are shared with callers, frozen so nobody changes them without saving. */
function frozenCopy(execution: Execution): Execution {
  return deepFreeze(structuredClone(execution));
}

function deepFreeze(e: Execution): Execution {
  if (Array.isArray(e.attempts)) {
    for (const a of e.attempts) Object.freeze(a);
    Object.freeze(e.attempts);
  }
  return Object.freeze(e);
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Where `id` goes in an oldest-first list; new ids are the newest, so check the end first. */
function insertionIndex(list: Execution[], id: string): number {
  if (list.length === 0 || list[list.length - 1]!.id < id) return list.length;
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function indexOf(list: Execution[], id: string): number {
  const i = insertionIndex(list, id);
  return list[i]?.id === id ? i : -1;
}

function paging(query: ExecutionQuery): { limit: number; offset: number } {
  const limit = Number.isFinite(query.limit) ? Math.max(0, Math.floor(query.limit)) : 0;
  const offset = Number.isFinite(query.offset) ? Math.max(0, Math.floor(query.offset)) : 0;
  return { limit, offset };
}

interface Cursor {
  list: Execution[];
  /** Index of the cursor's next (newest remaining) execution; -1 when exhausted. */
  i: number;
}

/** Moves a cursor back to the next execution with `status`; false when none is left. */
function advance(cursor: Cursor, status: ExecutionStatus | undefined): boolean {
  if (status) while (cursor.i >= 0 && cursor.list[cursor.i]!.status !== status) cursor.i--;
  return cursor.i >= 0;
}

/** A max-heap of cursors by the id they point at. */
class CursorHeap {
  private readonly items: Cursor[] = [];

  get size(): number {
    return this.items.length;
  }

  push(c: Cursor): void {
    const a = this.items;
    a.push(c);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.above(i, parent)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): Cursor {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < a.length && this.above(l, best)) best = l;
        if (r < a.length && this.above(r, best)) best = r;
        if (best === i) break;
        [a[i], a[best]] = [a[best]!, a[i]!];
        i = best;
      }
    }
    return top;
  }

  private above(i: number, j: number): boolean {
    const x = this.items[i]!;
    const y = this.items[j]!;
    return x.list[x.i]!.id > y.list[y.i]!.id;
  }
}

async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
