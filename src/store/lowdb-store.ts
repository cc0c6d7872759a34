/**
 * The embedded Store: JSON files under the data dir, all data in memory.
 *
 *   api-jobs.json                          { jobs: Job[] }: definitions of API-made jobs (lowdb)
 *   config-jobs.json                       { jobs: { <id>: {created_at, updated_at, fingerprint} } }:
 *                                          what the daemon remembers of each config job's definition (lowdb)
 *   wal/<seq>.jsonl                        the write-ahead log of every job's changes (write-ahead-log.ts)
 *   jobs/<jobId>/journal.jsonl             the job's runtime state and executions (job-journal.ts)
 *   jobs/<jobId>/logs/<executionId>.log    its output (+ .log.idx), see log-file.ts
 *
 * The two small documents are read and written whole through lowdb: they change when an API job
 * or the config changes. Executions are not: lowdb rewrites its whole document on every write, and
 * recording a run twice (started, finished) that way cost more than the run of `true` itself
 * (docs/benchmarks.md). A change is one line: the lines of every job changed in one turn of the
 * event loop go to the write-ahead log in one write, and are acknowledged then; a checkpoint in the
 * background appends them to each job's journal (compacted when it has grown to twice what it holds)
 * and deletes the log segments it covered.
 *
 * One journal per job keeps the cost of recording an execution independent of what other jobs hold.
 */
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import { WatchbellError } from '../jobs/errors.js';
import { FINISHED_STATUSES, type Execution, type ExecutionStatus } from '../jobs/execution.js';
import { isValidExecutionId, isValidJobId } from '../jobs/ids.js';
import type { Job } from '../jobs/job.js';
import { CoalescingWriter } from './coalescing-writer.js';
import { compactedJournal, compactionThreshold, dropLine, emptyJournal, JOURNAL_FILE, parseJournal, putLine, stateLine, type JournalContents } from './job-journal.js';
import { indexPath } from './log-file.js';
import type { ExecutionQuery, JobState, Page, Store } from './store.js';
import { goneLine, replaySegment, walLine, WriteAheadLog } from './write-ahead-log.js';

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
/** A checkpoint at least this often, and as soon as the log's current segment holds CHECKPOINT_BYTES. */
const CHECKPOINT_MS = 30_000;
const CHECKPOINT_BYTES = 32 * 1024 * 1024;
/** Journals a checkpoint writes at once. */
const CHECKPOINT_CONCURRENCY = 8;

/** A job's journal as read at start, and whether it must be rewritten (torn, too long, or behind the log). */
interface LoadedJournal {
  contents: JournalContents;
  rewrite: boolean;
  /** Read from a file of the earlier whole-file format, removed once the journal is written. */
  legacy?: boolean;
}

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
  /** Lines not yet in the write-ahead log, and who waits for them. */
  queue: string[] = [];
  waiters: Waiter[] = [];
  /** Lines in the write-ahead log but not yet in the journal: the next checkpoint appends them. */
  unflushed: string[] = [];
  /** Writes of this job not yet on disk. */
  readonly pending = new Set<Promise<unknown>>();
  /** The checkpoint's write of its journal, while one runs. */
  journalWrite: Promise<void> | undefined;
  /** Its job was deleted: nothing more is written to its journal. */
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
  /** Jobs with queued lines, written to the log at the next flush. */
  private readonly dirty = new Set<JobRecord>();
  /** Lines for the log that belong to no live job (deletions), and who waits for them. */
  private extraLines: string[] = [];
  private extraWaiters: Waiter[] = [];
  private flushScheduled = false;
  private readonly wal: WriteAheadLog;
  /** Jobs whose journal is behind the log: the next checkpoint writes them. */
  private readonly behind = new Set<JobRecord>();
  /** Config-job facts moved out of job files of the earlier format while loading. */
  private movedMeta = false;
  private checkpointing: Promise<void> | undefined;
  private nextCheckpoint: Promise<void> | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
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
    this.wal = new WriteAheadLog(this.dataDir);
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
      clearInterval(this.checkpointTimer);
      if (this.opened) {
        // Leaves the journals whole, so the next start has no log to replay.
        await this.checkpoint().catch(() => undefined);
        this.wal.close();
      }
    })();
    return this.closing;
  }

  /**
   * Brings every journal up to date with what the write-ahead log held when it was called, then
   * deletes the log segments that covers. Runs by itself (every CHECKPOINT_MS, and once the log holds
   * CHECKPOINT_BYTES), at close, and when called; one at a time.
   */
  checkpoint(): Promise<void> {
    // One running, at most one waiting: a call during a run must cover the lines logged after that run began.
    if (this.nextCheckpoint) return this.nextCheckpoint;
    if (this.checkpointing) {
      this.nextCheckpoint = this.checkpointing.catch(() => undefined).then(() => {
        this.nextCheckpoint = undefined;
        return this.checkpoint();
      });
      return this.nextCheckpoint;
    }
    this.checkpointing = this.runCheckpoint().finally(() => {
      this.checkpointing = undefined;
    });
    return this.checkpointing;
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
    const definition = this.apiById.get(jobId);
    const meta = this.configMeta.get(jobId);
    this.apiById.delete(jobId);
    this.configMeta.delete(jobId);
    const previous = this.deletions.get(jobId);
    const removal = (async () => {
      // The definition goes first: it is what makes the job exist. A crash before it is written leaves the
      // job whole; after it, history without a job (kept, as for a job removed from the config). Were the
      // `gone` line first, a crash between the two would bring the job back from its definition with its
      // state dropped by the replay: a paused job would come back active (found by test/daemon/crash.test.ts).
      try {
        if (definition) await this.writeApiJobs();
        if (meta) await this.writeConfigJobs();
      } catch (err) {
        // Nothing else was touched: the job stays whole, in memory as on disk, and the delete may be tried again.
        if (definition && !this.apiById.has(jobId)) this.apiById.set(jobId, definition);
        if (meta && !this.configMeta.has(jobId)) this.configMeta.set(jobId, meta);
        throw err;
      }
      const rec = this.records.get(jobId);
      this.records.delete(jobId);
      if (rec) rec.deleted = true;
      // Replayed after a crash, `gone` drops whatever the journal still holds of the job.
      await this.logExtra(goneLine(jobId));
      await previous?.catch(() => undefined);
      // Its last lines go to the log (for the order), and a checkpoint writing its journal must end before the rm.
      if (rec) await Promise.allSettled([...rec.pending, rec.journalWrite]);
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
    const json = JSON.stringify(execution);
    const stored = deepFreeze(execution);
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
    const stored = deepFreeze(execution);
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
    const journals = new Map<string, LoadedJournal>();
    await eachLimited(dirs, OPEN_CONCURRENCY, async (jobId) => {
      const loaded = await this.readJournal(jobId);
      if (loaded) journals.set(jobId, loaded);
    });

    // What the log holds past the journals (a crash, or a stop before the last checkpoint).
    const segments = await this.wal.readSegments();
    const gone = new Set<string>();
    for (const segment of segments) {
      try {
        replaySegment(
          segment.text,
          (jobId) => {
            let loaded = journals.get(jobId);
            if (!loaded) journals.set(jobId, (loaded = { contents: emptyJournal(), rewrite: true }));
            loaded.rewrite = true;
            return loaded.contents;
          },
          (jobId) => {
            journals.delete(jobId);
            gone.add(jobId);
          },
        );
      } catch (err) {
        throw corrupt(segment.path, (err as Error).message, err);
      }
    }
    for (const jobId of gone) {
      // Deleted, but its dir outlived a crash; a job of the same id made since starts a new journal.
      if (!isValidJobId(jobId)) continue;
      if (!journals.has(jobId)) await rm(this.jobDir(jobId), { recursive: true, force: true });
      else journals.get(jobId)!.rewrite = true;
    }
    for (const [jobId, loaded] of journals) {
      if (isValidJobId(jobId)) this.addLoaded(jobId, loaded);
    }
    for (const jobId of dirs) {
      // Neither a journal nor anything in the log: only a temp file or logs nothing acknowledged refers to.
      if (!journals.has(jobId)) await rm(this.jobDir(jobId), { recursive: true, force: true });
    }
    await eachLimited([...this.records.values()], OPEN_CONCURRENCY, async (rec) => {
      if (rec.needsCompaction) await this.compact(rec);
      if (journals.get(rec.jobId)?.legacy) await rm(join(rec.dir, LEGACY_FILE), { force: true });
      await this.sweepLogs(rec);
    });
    if (this.movedMeta) await this.writeConfigJobs();
    // Every journal is whole now: the old segments can go, and the log starts afresh.
    const last = segments.length > 0 ? segments[segments.length - 1]!.seq : 0;
    this.wal.start(last);
    await this.wal.removeUpTo(last);
    this.checkpointTimer = setInterval(() => void this.checkpoint().catch(() => undefined), CHECKPOINT_MS);
    this.checkpointTimer.unref();
  }

  /** A job's journal (or its file of the earlier format), or undefined when it has none. */
  private async readJournal(jobId: string): Promise<LoadedJournal | undefined> {
    const dir = this.jobDir(jobId);
    const file = join(dir, JOURNAL_FILE);
    const text = await readText(file);
    if (text !== undefined) {
      try {
        const contents = parseJournal(text);
        return { contents, rewrite: contents.torn || contents.lines > compactionThreshold(contents.executions.size) };
      } catch (err) {
        throw corrupt(file, (err as Error).message, err);
      }
    }
    const legacy = await readLegacy(join(dir, LEGACY_FILE));
    // No journal yet: what the job has may all be in the write-ahead log (load() decides after replaying it).
    if (!legacy) return undefined;
    const contents = emptyJournal();
    contents.state = legacy.state;
    for (const e of legacy.executions) if (e && typeof e.id === 'string') contents.executions.set(e.id, e);
    return { contents, rewrite: true, legacy: true };
  }

  /** Turns a loaded journal into the job's record. */
  private addLoaded(jobId: string, { contents, rewrite }: LoadedJournal): void {
    const rec = new JobRecord(jobId, this.jobDir(jobId));
    // Definition facts kept in the job's own file by earlier versions move to config-jobs.json.
    const runtime: JobState = { ...contents.state };
    let hadMeta = false;
    for (const key of META_KEYS) {
      if (!(key in runtime)) continue;
      hadMeta = true;
      delete runtime[key];
    }
    if (hadMeta && !this.configMeta.has(jobId)) {
      this.configMeta.set(jobId, pickMeta(contents.state));
      this.movedMeta = true;
    }
    rec.state = runtime;
    rec.executions = [...contents.executions.values()]
      .filter((e) => e && isValidExecutionId(e.id))
      .sort((a, b) => compareIds(a.id, b.id))
      .map(deepFreeze);
    rec.index();
    rec.lines = contents.lines;
    rec.needsCompaction = rewrite || hadMeta;
    rec.dirReady = !rewrite || contents.lines > 0;
    this.records.set(jobId, rec);
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

  /** Queues lines for a job's journal; resolves once they are in the write-ahead log. */
  private persist(rec: JobRecord, lines: string[]): Promise<void> {
    const written = new Promise<void>((resolve, reject) => rec.waiters.push({ resolve, reject }));
    rec.queue.push(...lines);
    this.dirty.add(rec);
    this.scheduleFlush();
    return this.track(written, rec.pending);
  }

  /** Queues a log line of no live job (a deletion). */
  private logExtra(line: string): Promise<void> {
    const written = new Promise<void>((resolve, reject) => this.extraWaiters.push({ resolve, reject }));
    this.extraLines.push(line);
    this.scheduleFlush();
    return this.track(written);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the current turn, so every change made in it goes to the log in one write.
    setImmediate(() => this.flush());
  }

  /** Writes every queued line to the write-ahead log at once, then settles their waiters. */
  private flush(): void {
    this.flushScheduled = false;
    const parts = this.extraLines;
    const waiters = this.extraWaiters;
    this.extraLines = [];
    this.extraWaiters = [];
    for (const rec of this.dirty) {
      // A deleted job's last lines are dropped: in the log after its `gone`, a replay would bring them back.
      if (!rec.deleted) {
        for (const line of rec.queue) parts.push(walLine(rec.jobId, line));
        rec.unflushed.push(...rec.queue);
        // Past what a compacted journal holds, the lines are not worth keeping until the checkpoint: it rewrites the journal from memory.
        if (rec.unflushed.length > compactionThreshold(rec.executions.length)) {
          rec.unflushed = [];
          rec.needsCompaction = true;
        }
        this.behind.add(rec);
      }
      waiters.push(...rec.waiters);
      rec.queue = [];
      rec.waiters = [];
    }
    this.dirty.clear();
    try {
      if (parts.length > 0) this.wal.append(parts.join(''));
    } catch (err) {
      for (const w of waiters) w.reject(err);
      // A write cut short (a full disk) may have left a torn line: it must stay the last of its segment.
      try {
        this.wal.rotate();
      } catch {
        // The next append fails as well, and says why.
      }
      return;
    }
    for (const w of waiters) w.resolve();
    if (this.wal.bytes >= CHECKPOINT_BYTES) void this.checkpoint().catch(() => undefined);
  }

  private async runCheckpoint(): Promise<void> {
    // Lines written from here on go to a new segment; the closed one is covered once every journal is written.
    const closed = this.wal.rotate();
    const recs = [...this.behind];
    this.behind.clear();
    let failed = false;
    await eachLimited(recs, CHECKPOINT_CONCURRENCY, async (rec) => {
      const lines = rec.unflushed;
      rec.unflushed = [];
      if (rec.deleted) return;
      // A job re-created while its old dir is being removed writes its journal after the rm.
      await this.deletions.get(rec.jobId)?.catch(() => undefined);
      if (rec.deleted || (lines.length === 0 && !rec.needsCompaction)) return;
      rec.journalWrite = this.writeJournal(rec, lines);
      try {
        await rec.journalWrite;
      } catch {
        // Memory holds it all: the next checkpoint rewrites the journal whole, and the log is kept till then.
        failed = true;
        rec.needsCompaction = true;
        this.behind.add(rec);
      } finally {
        rec.journalWrite = undefined;
      }
    });
    // A failed journal is rewritten whole by a later checkpoint; until one succeeds, every segment is kept.
    if (!failed) await this.wal.removeUpTo(closed);
  }

  /**
   * Appends lines to a job's journal, or rewrites it compacted when it has grown too long. Runs in the
   * background (a checkpoint), through the thread pool: on a busy disk a mkdir took 270 us and an append
   * 50 us, and 10,000 of them on the event loop held the API for seconds.
   */
  private async writeJournal(rec: JobRecord, lines: string[]): Promise<void> {
    if (rec.needsCompaction || rec.lines + lines.length > compactionThreshold(rec.executions.length)) {
      await this.compact(rec);
      return;
    }
    await ensureDir(rec);
    await appendFile(rec.file, lines.join(''));
    rec.lines += lines.length;
  }

  /** Rewrites a journal from memory: a temp file renamed over the old one, so a crash leaves one or the other. */
  private async compact(rec: JobRecord): Promise<void> {
    // Memory holds every change so far; later ones are appended after it, and applying one twice changes nothing.
    const { text, lines } = compactedJournal(rec.state, rec.executions);
    rec.needsCompaction = false;
    try {
      await ensureDir(rec);
      const tmp = join(rec.dir, `.${JOURNAL_FILE}.tmp`);
      await writeFile(tmp, text);
      await rename(tmp, rec.file);
    } catch (err) {
      rec.needsCompaction = true;
      throw err;
    }
    rec.lines = lines;
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

/** Creates a job's dir before its first journal write (once; later writes find it there). */
async function ensureDir(rec: JobRecord): Promise<void> {
  if (rec.dirReady) return;
  await mkdir(rec.dir, { recursive: true });
  rec.dirReady = true;
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
  // unlink, not rm: most runs print nothing and have no log, and rm's checks cost ~0.1 ms per missing file.
  await Promise.all([unlinkIfExists(path), unlinkIfExists(indexPath(path))]);
}

async function unlinkIfExists(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
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
