/**
 * The embedded Store: files under the data dir, all data in memory. This file is how a change is
 * recorded; the parts it uses each have their own:
 *
 *   api-jobs.json, config-jobs.json        the two small documents (job-documents.ts)
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
import { loadJournals, LOGS_DIR } from './load-journals.js';
import { indexPath } from './log-file.js';
import type { ExecutionQuery, JobState, Page, Store } from './store.js';
import { goneLine, walLine, WriteAheadLog } from './write-ahead-log.js';

const JOBS_DIR = 'jobs';

export class LowdbStore implements Store {
  private readonly dataDir: string;
  private readonly jobsDir: string;
  private readonly docs: JobDocuments;
  private records = new Map<string, JobRecord>();
  /** Jobs with queued lines, written to the log at the next flush. */
  private readonly dirty = new Set<JobRecord>();
  /** Lines for the log that belong to no live job (deletions), and who waits for them. */
  private extraLines: string[] = [];
  private extraWaiters: Waiter[] = [];
  private flushScheduled = false;
  private readonly wal: WriteAheadLog;
  private readonly checkpointer: Checkpointer;
  /** Job dirs being removed; a job re-created meanwhile waits for its old dir to go first. */
  private readonly deletions = new Map<string, Promise<void>>();
  private readonly pending = new Set<Promise<unknown>>();
  private opening: Promise<void> | undefined;
  private opened = false;
  private closing: Promise<void> | undefined;

  constructor(dataDir: string) {
    this.dataDir = resolve(dataDir);
    this.jobsDir = join(this.dataDir, JOBS_DIR);
    this.docs = new JobDocuments(this.dataDir);
    this.wal = new WriteAheadLog(this.dataDir);
    this.checkpointer = new Checkpointer(this.wal, this.deletions);
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
    this.docs.apiById.set(job.id, structuredClone(job));
    await this.track(this.docs.writeApi());
  }

  async deleteJob(jobId: string): Promise<void> {
    this.assertOpen();
    const dir = this.jobDir(jobId);
    const { apiById, configMeta } = this.docs;
    const definition = apiById.get(jobId);
    const meta = configMeta.get(jobId);
    apiById.delete(jobId);
    configMeta.delete(jobId);
    const previous = this.deletions.get(jobId);
    const removal = (async () => {
      // The definition goes first: it is what makes the job exist. A crash before it is written leaves the
      // job whole; after it, history without a job (kept, as for a job removed from the config). Were the
      // `gone` line first, a crash between the two would bring the job back from its definition with its
      // state dropped by the replay: a paused job would come back active (found by test/daemon/crash.test.ts).
      try {
        if (definition) await this.track(this.docs.writeApi());
        if (meta) await this.track(this.docs.writeConfig());
      } catch (err) {
        // Nothing else was touched: the job stays whole, in memory as on disk, and the delete may be tried again.
        if (definition && !apiById.has(jobId)) apiById.set(jobId, definition);
        if (meta && !configMeta.has(jobId)) configMeta.set(jobId, meta);
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
    // Both changes are in memory before anything is awaited, so a caller may read jobState() at once.
    let journal: Promise<void> | undefined;
    if (Object.keys(runtime).length > 0 || meta === undefined) {
      const rec = this.record(jobId);
      rec.state = { ...rec.state, ...runtime };
      journal = this.persist(rec, [stateLine(rec.state)]);
    } else {
      this.jobDir(jobId);
    }
    if (meta !== undefined) this.docs.configMeta.set(jobId, meta);
    // The journal first: a one-shot job given a new instant must not keep `completed` under its new fingerprint.
    await journal;
    if (meta !== undefined) await this.track(this.docs.writeConfig());
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
    await mkdir(this.jobsDir, { recursive: true });
    await this.docs.load();
    this.records = await loadJournals({
      jobsDir: this.jobsDir,
      jobDir: (jobId) => this.jobDir(jobId),
      docs: this.docs,
      wal: this.wal,
      checkpointer: this.checkpointer,
    });
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
        this.checkpointer.behind.add(rec);
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
