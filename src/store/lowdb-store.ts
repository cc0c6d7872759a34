/**
 * The embedded Store: JSON files under the data dir, all data in memory.
 *
 *   api-jobs.json                          { jobs: Job[] }: definitions of API-made jobs (lowdb)
 *   config-jobs.json                       { jobs: { <id>: {created_at, updated_at, fingerprint} } }:
 *                                          what the daemon remembers of each config job's definition (lowdb)
 *   jobs/<jobId>/journal.jsonl             the job's runtime state and executions, appended (job-journal.ts)
 *   jobs/<jobId>/logs/<executionId>.log    its output (+ .log.idx), see log-file.ts
 *
 * The two small documents are read and written whole through lowdb: they change when an API job
 * or the config changes. Executions are not: lowdb rewrites its whole document on every write, and
 * recording a run twice (started, finished) that way cost more than the run of `true` itself
 * (docs/benchmarks.md). Each job's journal gets one appended line per change instead, written
 * synchronously once per turn of the event loop for every job changed in that turn (a group
 * commit: ten thousand jobs firing in one second cost ten thousand small appends, in a few
 * batches), and compacted when it has grown to twice what it holds.
 *
 * One file per job keeps the cost of recording an execution independent of what other jobs hold.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import { WatchbellError } from '../jobs/errors.js';
import { FINISHED_STATUSES, type Execution, type ExecutionStatus } from '../jobs/execution.js';
import { isValidExecutionId, isValidJobId } from '../jobs/ids.js';
import type { Job } from '../jobs/job.js';
import { CoalescingWriter } from './coalescing-writer.js';
import { compactedJournal, compactionThreshold, dropLine, JOURNAL_FILE, parseJournal, putLine, stateLine } from './job-journal.js';
import { indexPath } from './log-file.js';
import type { ExecutionQuery, JobState, Page, Store } from './store.js';

interface ApiJobsFile {
  jobs: Job[];
}

/** The part of a JobState that describes a config job's definition; changes only with the config. */
type ConfigJobMeta = Pick<JobState, 'created_at' | 'updated_at' | 'fingerprint'>;
const META_KEYS = ['created_at', 'updated_at', 'fingerprint'] as const;

interface ConfigJobsFile {
  jobs: Record<string, ConfigJobMeta>;
}

const API_JOBS_FILE = 'api-jobs.json';
const CONFIG_JOBS_FILE = 'config-jobs.json';
const JOBS_DIR = 'jobs';
/** The whole-file format of earlier versions ({ state, executions }); read once and turned into a journal. */
const LEGACY_FILE = 'executions.json';
const LOGS_DIR = 'logs';
const LOG_FILE_RE = /^(exec-[0-9a-z]{20})\.log(\.idx)?$/;
/** Job files read at once on open: enough to keep the disk busy, few enough for the fd limit. */
const OPEN_CONCURRENCY = 32;
/** Journals written in one go before the event loop gets a turn (a few ms of small appends). */
const FLUSH_BATCH = 500;

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** One job's journal and the indexes kept beside it in memory. */
class JobRecord {
  /** Oldest first: execution ids sort by creation. */
  executions: Execution[] = [];
  readonly byId = new Map<string, Execution>();
  readonly counts = new Map<ExecutionStatus, number>();
  /** Runtime state (paused, completed, last_slot); the definition part lives in config-jobs.json. */
  state: JobState = {};
  /** Lines in the journal file, to know when to compact it. */
  lines = 0;
  /** The file on disk may not match memory (a torn line, a failed append): rewrite it whole next time. */
  needsCompaction = false;
  dirReady = false;
  /** Lines not yet on disk, and who waits for them. */
  queue: string[] = [];
  waiters: Waiter[] = [];
  /** Writes of this job not yet on disk. */
  readonly pending = new Set<Promise<unknown>>();
  /** Its job was deleted: queued lines are dropped, not written. */
  deleted = false;

  constructor(
    readonly jobId: string,
    readonly dir: string,
  ) {}

  get file(): string {
    return join(this.dir, JOURNAL_FILE);
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
  private readonly configJobs: Low<ConfigJobsFile>;
  private readonly configWriter: CoalescingWriter;
  private readonly configMeta = new Map<string, ConfigJobMeta>();
  private readonly records = new Map<string, JobRecord>();
  /** Journals with queued lines, written at the next flush. */
  private readonly dirty = new Set<JobRecord>();
  private flushScheduled = false;
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
    this.configJobs = new Low<ConfigJobsFile>(new JSONFile<ConfigJobsFile>(join(this.dataDir, CONFIG_JOBS_FILE)), { jobs: {} });
    this.configWriter = new CoalescingWriter(() => {
      this.configJobs.data = { jobs: Object.fromEntries(this.configMeta) };
      return this.configJobs.write();
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
    if (rec) rec.deleted = true;
    const hadDefinition = this.apiById.delete(jobId);
    const hadMeta = this.configMeta.delete(jobId);
    const previous = this.deletions.get(jobId);
    const removal = (async () => {
      await previous?.catch(() => undefined);
      // The definition goes first. A crash before the rm then leaves history without a job (kept, as
      // for a job removed from the config); the other order could leave a job that lost its state,
      // and a paused job would come back active (found by test/daemon/crash.test.ts).
      if (hadDefinition) await this.writeApiJobs();
      if (hadMeta) await this.writeConfigJobs();
      // Queued lines of the old job are dropped at the next flush; wait for that before the rm.
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
    return { ...this.configMeta.get(jobId), ...this.records.get(jobId)?.state };
  }

  async saveJobState(jobId: string, patch: JobState): Promise<void> {
    this.assertOpen();
    const runtime: JobState = { ...patch };
    let meta: ConfigJobMeta | undefined;
    for (const key of META_KEYS) {
      if (!(key in runtime)) continue;
      meta ??= { ...this.configMeta.get(jobId) };
      meta[key] = runtime[key];
      delete runtime[key];
    }
    // Both changes are in memory before anything is awaited, so a caller may read jobState() at once.
    let journal: Promise<void> | undefined;
    if (Object.keys(runtime).length > 0 || meta === undefined) {
      const rec = this.record(jobId);
      rec.state = { ...rec.state, ...runtime };
      journal = this.persist(rec, [stateLine(rec.state)]);
    } else {
      this.jobDir(jobId);
    }
    if (meta !== undefined) this.configMeta.set(jobId, meta);
    // The journal first: a one-shot job given a new instant must not keep `completed` under its new fingerprint.
    await journal;
    if (meta !== undefined) await this.writeConfigJobs();
  }

  async addExecution(execution: Execution, historyLimit: number): Promise<void> {
    this.assertOpen();
    checkExecutionId(execution.id);
    const rec = this.record(execution.job_id);
    if (rec.byId.has(execution.id)) {
      throw new Error(`addExecution: execution ${execution.id} of job ${execution.job_id} is already stored; use updateExecution`);
    }
    // The JSON is needed for the journal anyway; parsing it back is the cheapest deep copy.
    const json = JSON.stringify(execution);
    const stored = deepFreeze(JSON.parse(json) as Execution);
    const list = rec.executions;
    list.splice(insertionIndex(list, stored.id), 0, stored);
    rec.byId.set(stored.id, stored);
    rec.count(stored.status, 1);
    const trimmed = trim(rec, historyLimit, stored.id);
    const lines = [putLine(json)];
    if (trimmed.length > 0) lines.push(dropLine(trimmed.map((e) => e.id)));
    await this.persist(rec, lines);
    // Only once the journal no longer lists them; a crash before this leaves orphans that open() sweeps.
    // One that never started (skipped, cancelled while queued) has no log: no need to ask the disk.
    await Promise.all(trimmed.filter((e) => e.started_at !== null).map((e) => removeLog(this.logPath(e.job_id, e.id))));
  }

  async updateExecution(execution: Execution): Promise<void> {
    this.assertOpen();
    const rec = this.records.get(execution.job_id);
    const old = rec?.byId.get(execution.id);
    // Its job was deleted (or it was trimmed) while it ran: there is nothing left to update.
    if (!rec || !old) return;
    const json = JSON.stringify(execution);
    const stored = deepFreeze(JSON.parse(json) as Execution);
    const list = rec.executions;
    list[indexOf(list, old.id)] = stored;
    rec.byId.set(stored.id, stored);
    rec.count(old.status, -1);
    rec.count(stored.status, 1);
    await this.persist(rec, [putLine(json)]);
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
    await readData(this.configJobs, join(this.dataDir, CONFIG_JOBS_FILE));
    const meta = this.configJobs.data.jobs;
    if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw corrupt(join(this.dataDir, CONFIG_JOBS_FILE), 'expected { "jobs": {...} }');
    for (const [id, m] of Object.entries(meta)) if (isValidJobId(id) && m && typeof m === 'object') this.configMeta.set(id, m);

    const dirs = (await readdir(this.jobsDir, { withFileTypes: true }))
      .filter((d) => d.isDirectory() && isValidJobId(d.name))
      .map((d) => d.name);
    await eachLimited(dirs, OPEN_CONCURRENCY, (jobId) => this.loadJob(jobId));
  }

  private async loadJob(jobId: string): Promise<void> {
    const dir = this.jobDir(jobId);
    const rec = new JobRecord(jobId, dir);
    let state: JobState;
    let executions: Execution[];
    const text = await readText(rec.file);
    if (text !== undefined) {
      let contents;
      try {
        contents = parseJournal(text);
      } catch (err) {
        throw corrupt(rec.file, (err as Error).message, err);
      }
      ({ state } = contents);
      executions = [...contents.executions.values()];
      rec.lines = contents.lines;
      rec.needsCompaction = contents.torn || contents.lines > compactionThreshold(contents.executions.size);
    } else {
      const legacy = await readLegacy(join(dir, LEGACY_FILE));
      if (!legacy) {
        // Never written completely (only a temp file or logs): nothing in it was ever acknowledged.
        await rm(dir, { recursive: true, force: true });
        return;
      }
      ({ state, executions } = legacy);
      rec.needsCompaction = true;
    }
    // Definition facts kept in the job's own file by earlier versions move to config-jobs.json.
    const runtime: JobState = { ...state };
    let movedMeta = false;
    for (const key of META_KEYS) {
      if (!(key in runtime)) continue;
      if (!this.configMeta.has(jobId)) movedMeta = true;
      delete runtime[key];
    }
    if (movedMeta) this.configMeta.set(jobId, pickMeta(state));
    rec.state = runtime;
    rec.executions = executions
      .filter((e) => e && isValidExecutionId(e.id))
      .sort((a, b) => compareIds(a.id, b.id))
      .map(deepFreeze);
    rec.index();
    rec.dirReady = true;
    this.records.set(jobId, rec);
    if (rec.needsCompaction) {
      this.compact(rec);
      await rm(join(dir, LEGACY_FILE), { force: true });
    }
    if (movedMeta) await this.writeConfigJobs();
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

  /** Queues lines for a job's journal; resolves once they (or a compacted file holding them) are on disk. */
  private persist(rec: JobRecord, lines: string[]): Promise<void> {
    const written = new Promise<void>((resolve, reject) => rec.waiters.push({ resolve, reject }));
    rec.queue.push(...lines);
    this.dirty.add(rec);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After the current turn, so every change made in it goes to disk together.
      setImmediate(() => this.flush());
    }
    return this.track(written, rec.pending);
  }

  /** Writes the queued lines of up to FLUSH_BATCH journals, and schedules itself again for the rest. */
  private flush(): void {
    this.flushScheduled = false;
    let budget = FLUSH_BATCH;
    for (const rec of this.dirty) {
      if (budget-- === 0) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
        return;
      }
      this.dirty.delete(rec);
      const removal = this.deletions.get(rec.jobId);
      if (removal && !rec.deleted) {
        // A job re-created while its old dir is being removed: its first lines wait for the rm.
        void removal.catch(() => undefined).then(() => this.requeue(rec));
        continue;
      }
      const { queue, waiters } = rec;
      rec.queue = [];
      rec.waiters = [];
      try {
        if (!rec.deleted) this.writeJournal(rec, queue);
      } catch (err) {
        rec.needsCompaction = true;
        for (const w of waiters) w.reject(err);
        continue;
      }
      for (const w of waiters) w.resolve();
    }
  }

  private requeue(rec: JobRecord): void {
    this.dirty.add(rec);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Appends lines to a job's journal, or rewrites it compacted when it has grown too long. */
  private writeJournal(rec: JobRecord, lines: string[]): void {
    if (!rec.dirReady) {
      mkdirSync(rec.dir, { recursive: true });
      rec.dirReady = true;
    }
    if (rec.needsCompaction || rec.lines + lines.length > compactionThreshold(rec.executions.length)) {
      // Memory holds every queued change, so the compacted file includes these lines.
      this.compact(rec);
      return;
    }
    appendFileSync(rec.file, lines.length === 1 ? lines[0]! : lines.join(''));
    rec.lines += lines.length;
  }

  /** Rewrites a journal from memory: a temp file renamed over the old one, so a crash leaves one or the other. */
  private compact(rec: JobRecord): void {
    const { text, lines } = compactedJournal(rec.state, rec.executions);
    const tmp = join(rec.dir, `.${JOURNAL_FILE}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, rec.file);
    rec.lines = lines;
    rec.needsCompaction = false;
  }

  private writeApiJobs(): Promise<void> {
    return this.track(this.apiWriter.write());
  }

  private writeConfigJobs(): Promise<void> {
    return this.track(this.configWriter.write());
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
 * Loads a file into its Low; false when the file does not exist. Read here rather than by
 * Low.read(), which cannot tell a missing file from one holding `null`.
 */
async function readData<T>(db: Low<T>, file: string): Promise<boolean> {
  const text = await readText(file);
  if (text === undefined) return false;
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

/** A file's text, or undefined when it does not exist. */
async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** A job file of the earlier whole-file format, or undefined when there is none. */
async function readLegacy(file: string): Promise<{ state: JobState; executions: Execution[] } | undefined> {
  const text = await readText(file);
  if (text === undefined) return undefined;
  let data: { state?: unknown; executions?: unknown };
  try {
    data = JSON.parse(text) as typeof data;
  } catch (err) {
    throw corrupt(file, (err as Error).message, err);
  }
  if (data === null || typeof data !== 'object' || !Array.isArray(data.executions)) {
    throw corrupt(file, 'expected { "state": {...}, "executions": [...] }');
  }
  const state = data.state && typeof data.state === 'object' ? (data.state as JobState) : {};
  return { state, executions: data.executions as Execution[] };
}

function pickMeta(state: JobState): ConfigJobMeta {
  const meta: ConfigJobMeta = {};
  for (const key of META_KEYS) if (state[key] !== undefined) meta[key] = state[key];
  return meta;
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
  rec.executions = kept;
  for (const e of removed) {
    rec.byId.delete(e.id);
    rec.count(e.status, -1);
  }
  return removed;
}

/** Stored executions are shared with callers, frozen so nobody changes them without saving. */
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
