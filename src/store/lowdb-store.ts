/**
 * The embedded Store: files under the data dir, all data in memory. This file is how a change is
 * recorded; the parts it uses each have their own:
 *
 *   api-jobs.json, config-jobs.json        the two documents of definitions (job-documents.ts); API job
 *                                          definitions change by a line in the log, like the rest
 *   wal/<seq>.jsonl                        the write-ahead log of every job's changes (write-ahead-log.ts)
 *   jobs/<jobId>/journal.jsonl             the job's runtime state and executions (job-journal.ts),
 *                                          brought up to date by the checkpoint (checkpoint.ts)
 *   jobs/<jobId>/logs/<executionId>.log    its output (+ .log.idx), see log-file.ts
 *
 * In memory: one JobRecord per job (job-record.ts), read by execution-pages.ts; rebuilt at open
 * by load-journals.ts.
 *
 * Executions are not written through lowdb: it rewrites its whole document on every write, and
 * recording a run twice (started, finished) that way cost more than the run of `true` itself
 * (docs/benchmarks.md). A change is one line: the lines of every job changed in one turn of the
 * event loop go to the write-ahead log in one write, and are acknowledged then; a checkpoint in the
 * background appends them to each job's journal (compacted when it has grown to twice what it holds)
 * and deletes the log segments it covered.
 *
 * One journal per job keeps the cost of recording an execution independent of what other jobs hold.
 *
 * Past 500 lines because the write path (a change, its undo, the flush that carries it, the acknowledgement)
 * is one sequence best read in one place; recovery, documents, pages and checkpoints already live apart.
 *
 * Durable before acknowledged, and nothing of a refused change applied: a change is made in memory at
 * once (a caller reads it back without waiting), with how to undo it; if the write that carries it
 * fails, every change of that write is undone before anyone hears of the failure, so neither a
 * reader nor a later good write (a checkpoint, the next flush) can see it. The write rejects with
 * STORE_UNAVAILABLE. See docs/architecture.md "Durable before memory".
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { WatchbellError } from '../jobs/errors.js';
import type { Execution } from '../jobs/execution.js';
import { isValidExecutionId, isValidJobId } from '../jobs/ids.js';
import type { Job } from '../jobs/job.js';
import { CHECKPOINT_BYTES, Checkpointer } from './checkpoint.js';
import { allPage, jobPage, unfinished } from './execution-pages.js';
import { JobDocuments, META_KEYS, type ConfigJobMeta } from './job-documents.js';
import { compactionThreshold, dropLine, putLine, stateLine } from './job-journal.js';
import { deepFreeze, indexOf, insertionIndex, JobRecord, trim, type Waiter } from './job-record.js';
import { loadJournals, LOGS_DIR, type LostFile } from './load-journals.js';
import { indexPath } from './log-file.js';
import { StoreDisk, writeFailed, type WriteFault } from './store-disk.js';
import type { ExecutionQuery, JobState, Page, Store } from './store.js';
import { defLine, goneLine, walLine, WriteAheadLog } from './write-ahead-log.js';

const JOBS_DIR = 'jobs';
/** How soon a deletion's line refused by a full disk is tried again. */
const RETRY_MS = 1000;

/**
 * A line of no job record (a deletion, an API job's definition). `first` settles with the first write
 * that carries it, the rest once it is written. An `undoable` one is not tried again: a failed write
 * undoes its change (queued with the store's undos) and rejects it.
 */
interface ExtraLine extends Waiter {
  line: string;
  first?: Waiter;
  undoable?: boolean;
}

export interface LowdbStoreOptions {
  /** Makes writes fail on purpose (tests of a failing disk); see store-disk.ts. */
  writeFault?: WriteFault;
}

export class LowdbStore implements Store {
  private readonly dataDir: string;
  private readonly jobsDir: string;
  private readonly docs: JobDocuments;
  private records = new Map<string, JobRecord>();
  /** Jobs with queued lines, written to the log at the next flush. */
  private readonly dirty = new Set<JobRecord>();
  /**
   * Lines for the log that belong to no live job (deletions), and who waits for them. A deletion is
   * acknowledged once its definition is gone from disk: its line is kept and tried again until written.
   */
  private extraLines: ExtraLine[] = [];
  private flushScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** How to undo each change not yet in the log, oldest first. */
  private undos: Array<() => void> = [];
  /** Called at the end of the next flush, when memory holds nothing that is not in the log. */
  private afterFlush: Array<() => void> = [];
  private readonly disk: StoreDisk;
  private readonly wal: WriteAheadLog;
  private readonly checkpointer: Checkpointer;
  /** Job dirs being removed; a job re-created meanwhile waits for its old dir to go first. */
  private readonly deletions = new Map<string, Promise<void>>();
  /** API job definitions changed since api-jobs.json was last written: the next checkpoint writes it. */
  private apiDirty = false;
  private readonly pending = new Set<Promise<unknown>>();
  private opening: Promise<void> | undefined;
  private opened = false;
  /** What open() moved to DATA/lost+found/ instead of deleting it, for the daemon to log. */
  readonly lostAndFound: LostFile[] = [];
  private closing: Promise<void> | undefined;

  constructor(dataDir: string, options: LowdbStoreOptions = {}) {
    this.dataDir = resolve(dataDir);
    this.jobsDir = join(this.dataDir, JOBS_DIR);
    this.disk = new StoreDisk(options.writeFault);
    this.docs = new JobDocuments(this.dataDir, this.disk);
    this.wal = new WriteAheadLog(this.dataDir, this.disk);
    this.checkpointer = new Checkpointer(this.wal, this.disk, this.deletions, (rec, then) => this.whenDurable(rec, then), () =>
      this.writeApiJobs(),
    );
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
      this.checkpointer.stop();
      clearTimeout(this.retryTimer);
      if (this.opened) {
        // A last try for deletion lines a full disk refused; what still fails stays (the job's history outlives it).
        if (this.extraLines.length > 0) this.flush(true);
        await Promise.allSettled([...this.deletions.values()]);
        // Leaves the journals whole, so the next start has no log to replay.
        await this.checkpoint().catch(() => undefined);
        this.wal.close();
      }
    })();
    return this.closing;
  }

  /**
   * Brings every journal up to date with what the write-ahead log held when it was called, then
   * deletes the log segments that covers (checkpoint.ts).
   */
  checkpoint(): Promise<void> {
    return this.checkpointer.checkpoint();
  }

  apiJobs(): Job[] {
    return [...this.docs.apiById.values()].map((job) => structuredClone(job));
  }

  async saveApiJob(job: Job): Promise<void> {
    this.assertOpen();
    this.jobDir(job.id);
    if (job.source !== 'api') throw new TypeError(`saveApiJob: job ${job.id} has source ${job.source}; only API jobs are stored`);
    // A copy, so the caller changing its object later cannot change what is stored.
    const copy = structuredClone(job);
    const { apiById } = this.docs;
    const had = apiById.has(job.id);
    const before = apiById.get(job.id);
    apiById.set(job.id, copy);
    this.apiDirty = true;
    // One line in the log, whatever the number of API jobs; api-jobs.json catches up at the next checkpoint.
    await this.logUndoable(defLine(copy), () => {
      if (had) apiById.set(job.id, before!);
      else apiById.delete(job.id);
    });
  }

  async deleteJob(jobId: string): Promise<void> {
    this.assertOpen();
    const dir = this.jobDir(jobId);
    const { apiById, configMeta } = this.docs;
    const definition = apiById.get(jobId);
    const meta = configMeta.get(jobId);
    const previous = this.deletions.get(jobId);
    const rec = this.records.get(jobId);
    // Gone from memory at once: lines the job's record still queues are dropped by the flush (after its
    // `gone`, a replay would bring them back).
    const forgetRecord = () => {
      this.records.delete(jobId);
      if (rec) rec.deleted = true;
    };
    let gone: { first: Promise<void>; written: Promise<void> };
    if (definition) {
      // An API job: one `gone` line removes its definition and its history at once, so a crash can
      // leave neither a job without its state nor a state without its job. A refused line undoes the
      // delete (with whatever else its write carried): the job stays whole, and the delete may be tried again.
      apiById.delete(jobId);
      this.apiDirty = true;
      forgetRecord();
      await this.logUndoable(goneLine(jobId), () => {
        apiById.set(jobId, definition);
        if (rec) {
          rec.deleted = false;
          this.records.set(jobId, rec);
        }
      });
      // The job is gone with its definition; a config meta left behind only costs a line in config-jobs.json.
      if (meta) {
        configMeta.delete(jobId);
        await this.track(configMeta.write()).catch(() => undefined);
      }
      gone = { first: Promise.resolve(), written: Promise.resolve() };
    } else {
      // A config job: its definition facts go first, they are what makes the job exist. Were the `gone` line
      // first, a crash between the two would bring the job back with its state dropped by the replay: a
      // paused job would come back active (found by test/daemon/crash.test.ts). A refused write undoes itself.
      if (meta) {
        configMeta.delete(jobId);
        await this.track(configMeta.write());
      }
      forgetRecord();
      // Replayed after a crash, `gone` drops whatever the journal still holds of the job.
      gone = this.logExtra(goneLine(jobId));
    }
    // Acknowledged from here; the rest cleans up after a job that no longer exists, and a full disk only delays it.
    const cleanup = (async () => {
      await gone.written;
      await previous?.catch(() => undefined);
      // Its last lines go to the log (for the order), and a checkpoint writing its journal must end before the rm.
      if (rec) await Promise.allSettled([...rec.pending, rec.journalWrite]);
      await rm(dir, { recursive: true, force: true });
    })();
    this.deletions.set(jobId, cleanup);
    const forget = () => {
      if (this.deletions.get(jobId) === cleanup) this.deletions.delete(jobId);
    };
    cleanup.then(forget, forget);
    // A full disk refusing the line leaves the dir until it is written (tried again every RETRY_MS): the job is deleted all the same.
    try {
      await gone.first;
    } catch {
      return;
    }
    // The job is gone either way: a dir the rm could not remove is left as history without a job (as for a config job removed from the file).
    await this.track(cleanup).catch(() => undefined);
  }

  jobState(jobId: string): JobState {
    return { ...this.docs.configMeta.get(jobId), ...this.records.get(jobId)?.state };
  }

  async saveJobState(jobId: string, patch: JobState): Promise<void> {
    this.assertOpen();
    const runtime: JobState = { ...patch };
    let meta: ConfigJobMeta | undefined;
    for (const key of META_KEYS) {
      if (!(key in runtime)) continue;
      meta ??= { ...this.docs.configMeta.get(jobId) };
      meta[key] = runtime[key];
      delete runtime[key];
    }
    // In memory before anything is awaited, so a caller may read jobState() at once.
    let journal: Promise<void> | undefined;
    if (Object.keys(runtime).length > 0 || meta === undefined) {
      const rec = this.record(jobId);
      const before = rec.state;
      rec.state = { ...rec.state, ...runtime };
      journal = this.persist(rec, [stateLine(rec.state)], () => {
        rec.state = before;
      });
    } else {
      this.jobDir(jobId);
    }
    // The journal first: a one-shot job given a new instant must not keep `completed` under its new
    // fingerprint. The definition facts wait for it, so a refused journal line leaves them unchanged too.
    if (meta !== undefined && journal) await journal;
    if (meta !== undefined) {
      this.docs.configMeta.set(jobId, meta);
      await this.track(this.docs.configMeta.write());
    } else {
      await journal;
    }
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
    await this.persist(rec, lines, () => {
      unstore(rec, stored);
      for (const e of trimmed) restore(rec, e);
    });
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
    await this.persist(rec, [putLine(json)], () => {
      unstore(rec, stored);
      restore(rec, old);
    });
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
    return jobPage(this.records.get(jobId), query);
  }

  listAllExecutions(query: ExecutionQuery): Page<Execution> {
    return allPage(this.records.values(), query);
  }

  unfinishedExecutions(): Execution[] {
    return unfinished(this.records.values());
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
    await mkdir(this.jobsDir, { recursive: true, mode: 0o700 });
    await this.docs.load();
    this.records = await loadJournals({
      dataDir: this.dataDir,
      jobsDir: this.jobsDir,
      jobDir: (jobId) => this.jobDir(jobId),
      docs: this.docs,
      wal: this.wal,
      checkpointer: this.checkpointer,
    }, this.lostAndFound);
    this.checkpointer.start();
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

  /**
   * Queues lines for a job's journal, with how to undo in memory the change they record; resolves
   * once they are in the write-ahead log, or rejects with STORE_UNAVAILABLE once the change is undone.
   */
  private persist(rec: JobRecord, lines: string[], undo: () => void): Promise<void> {
    const written = new Promise<void>((resolve, reject) => rec.waiters.push({ resolve, reject }));
    rec.queue.push(...lines);
    this.undos.push(undo);
    this.dirty.add(rec);
    this.scheduleFlush();
    return this.track(written, rec.pending);
  }

  /**
   * Queues a log line of no live job (a deletion). `first` settles with the first write that carries it;
   * if that fails, the line is kept and tried again, and `written` resolves once it is in the log (or
   * rejects when the store closes first).
   */
  private logExtra(line: string): { first: Promise<void>; written: Promise<void> } {
    let waiter!: ExtraLine;
    const written = new Promise<void>((resolve, reject) => (waiter = { line, resolve, reject }));
    const first = new Promise<void>((resolve, reject) => (waiter.first = { resolve, reject }));
    this.extraLines.push(waiter);
    this.scheduleFlush();
    return { first: this.track(first), written };
  }

  /**
   * Queues a log line whose change is already made in memory, with how to undo it; resolves once it is in
   * the log, or rejects with STORE_UNAVAILABLE once the change (and all its write carried) is undone.
   */
  private logUndoable(line: string, undo: () => void): Promise<void> {
    const written = new Promise<void>((resolve, reject) => this.extraLines.push({ line, resolve, reject, undoable: true }));
    this.undos.push(undo);
    this.scheduleFlush();
    return this.track(written);
  }

  /**
   * Brings api-jobs.json up to date (the checkpoint calls it): written from memory at a moment when
   * memory holds nothing the log does not, so no change that may still be refused reaches the file.
   */
  private async writeApiJobs(): Promise<void> {
    if (!this.apiDirty) return;
    this.apiDirty = false;
    const jobs = await new Promise<Job[]>((resolve) => {
      const take = () => resolve(this.docs.apiSnapshot());
      if (this.undos.length === 0) take();
      else this.afterFlush.push(take);
    });
    try {
      await this.docs.writeApiFile(await this.docs.apiFileText(jobs));
    } catch (err) {
      this.apiDirty = true;
      throw err;
    }
  }

  /** Calls `then` synchronously once all `rec` holds in memory is in the log: now, or at the end of the next flush. */
  private whenDurable(rec: JobRecord, then: () => void): void {
    if (rec.queue.length === 0) then();
    else this.afterFlush.push(then);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the current turn, so every change made in it goes to the log in one write.
    setImmediate(() => this.flush());
  }

  /**
   * Writes every queued line to the write-ahead log at once, then settles their waiters. On failure,
   * every change those lines recorded is undone first (newest first), so memory again matches the log;
   * synchronous, so no change can slip in between. `closing`: the last try before close.
   */
  private flush(closing = false): void {
    this.flushScheduled = false;
    const extras = this.extraLines;
    const undos = this.undos;
    const afterFlush = this.afterFlush;
    this.extraLines = [];
    this.undos = [];
    this.afterFlush = [];
    const parts = extras.map((x) => x.line);
    const waiters: Waiter[] = [];
    const written: JobRecord[] = [];
    const dirty = [...this.dirty];
    for (const rec of dirty) {
      // A deleted job's last lines are dropped: in the log after its `gone`, a replay would bring them back.
      if (!rec.deleted) {
        for (const line of rec.queue) parts.push(walLine(rec.jobId, line));
        written.push(rec);
      }
      waiters.push(...rec.waiters);
      rec.waiters = [];
    }
    this.dirty.clear();
    let failure: unknown;
    try {
      if (parts.length > 0) this.wal.append(parts.join(''));
    } catch (err) {
      failure = writeFailed('the write-ahead log', err);
    }
    if (failure === undefined) {
      for (const rec of written) {
        rec.unflushed.push(...rec.queue);
        // Past what a compacted journal holds, the lines are not worth keeping until the checkpoint: it rewrites the journal from memory.
        if (rec.unflushed.length > compactionThreshold(rec.executions.length)) {
          rec.unflushed = [];
          rec.needsCompaction = true;
        }
        this.checkpointer.behind.add(rec);
      }
    } else {
      for (let i = undos.length - 1; i >= 0; i--) undos[i]!();
    }
    for (const rec of dirty) rec.queue = [];
    for (const then of afterFlush) then();
    if (failure === undefined) {
      for (const w of waiters) w.resolve();
      for (const x of extras) {
        x.first?.resolve();
        x.resolve();
      }
      if (this.wal.bytes >= CHECKPOINT_BYTES) void this.checkpoint().catch(() => undefined);
      return;
    }
    for (const w of waiters) w.reject(failure);
    const retry: ExtraLine[] = [];
    for (const x of extras) {
      x.first?.reject(failure);
      x.first = undefined;
      // An undoable line's change is undone above: it is refused, not kept.
      if (x.undoable || closing) x.reject(failure);
      else retry.push(x);
    }
    // Kept ahead of anything queued since, and tried again even when nothing else is written.
    if (retry.length > 0) {
      this.extraLines = [...retry, ...this.extraLines];
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.scheduleFlush(), RETRY_MS);
      this.retryTimer.unref();
    }
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

/** Takes an execution out of a job's record (undoing its add). */
function unstore(rec: JobRecord, e: Execution): void {
  const i = indexOf(rec.executions, e.id);
  if (i === -1) return;
  rec.executions.splice(i, 1);
  rec.byId.delete(e.id);
  rec.count(e.status, -1);
}

/** Puts an execution back into a job's record (undoing its trim or its update). */
function restore(rec: JobRecord, e: Execution): void {
  rec.executions.splice(insertionIndex(rec.executions, e.id), 0, e);
  rec.byId.set(e.id, e);
  rec.count(e.status, 1);
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
