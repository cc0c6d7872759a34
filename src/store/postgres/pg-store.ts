/**
 * The Store on PostgreSQL (docs/architecture.md, "The PostgreSQL store"). Everything is read into
 * memory at open, as the embedded store does, so reads stay synchronous; a write goes to the
 * database first and changes memory only once it has committed (acknowledged means committed).
 *
 * One job's writes go out one after the other, in the order they were made (an execution's insert
 * before its updates); its state writes on a chain of their own; the writes different jobs make in
 * one event-loop turn commit together (group-commit.ts). The runner writes log files in the local data dir beside the pid files (see
 * logPath); each log's chunks are saved to the database when it closes (openLog, logs.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { WatchbellError } from '../../jobs/errors.js';
import type { Execution } from '../../jobs/execution.js';
import { isValidExecutionId, isValidJobId } from '../../jobs/ids.js';
import type { Job } from '../../jobs/job.js';
import { ExecutionIndex } from '../execution-index.js';
import { deepFreeze } from '../job-record.js';
import { createLogWriter, indexPath, type LogWriter } from '../log-file.js';
import type { ExecutionQuery, JobState, Page, Store } from '../store.js';
import { connect, isConnectionError, type Connection } from './connection.js';
import { insertExecution, loadExecutions, updateExecutionRow } from './executions.js';
import { deleteJobRows, loadApiJobs, loadJobStates, upsertApiJob, upsertJobState } from './jobs.js';
import { readLogChunkBatches, replaceLogChunks, restoreLogFile } from './logs.js';
import { migrate } from './migrate.js';

export interface PgStoreOptions {
  /** `postgres://...?schema=...` (checked by config/store-url.ts). */
  url: string;
  /** The local data dir: log files and pid files live here. */
  dataDir: string;
  /** See connection.ts's ConnectOptions (tests only). */
  writeFault?: () => Error | undefined;
}

/** Waits between attempts to record an execution's end while the database is away. */
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5_000;

export class PgStore implements Store {
  private readonly jobsDir: string;
  private conn: Connection | undefined;
  private readonly apiById = new Map<string, Job>();
  private readonly states = new Map<string, JobState>();
  private readonly executions = new ExecutionIndex();
  /** The tail of each job's chain of writes. */
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly pending = new Set<Promise<unknown>>();
  private opening: Promise<void> | undefined;
  private opened = false;
  private closing: Promise<void> | undefined;
  /** The last query failed to reach the database (set and cleared by writes and isWritable). */
  private down = false;

  /** This process's writes carry it as their application_name: the change feed skips them (cluster/change-feed.ts). */
  readonly origin = `watchbell-${randomBytes(8).toString('hex')}`;

  constructor(private readonly options: PgStoreOptions) {
    this.jobsDir = join(resolve(options.dataDir), 'jobs');
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
      while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
      await this.conn?.end();
    })();
    return this.closing;
  }

  apiJobs(): Job[] {
    return [...this.apiById.values()].map((job) => structuredClone(job));
  }

  /** When an API job's stored definition last changed (its updated_at), without copying it; undefined: none. */
  apiJobVersion(id: string): string | undefined {
    return this.apiById.get(id)?.updated_at;
  }

  async saveApiJob(job: Job): Promise<void> {
    this.assertOpen();
    checkJobId(job.id);
    if (job.source !== 'api') throw new TypeError(`saveApiJob: job ${job.id} has source ${job.source}; only API jobs are stored`);
    const copy = structuredClone(job);
    return this.write(job.id, `saving job ${job.id}`, async (conn) => {
      await upsertApiJob(conn.writes, conn.schema, copy);
      this.apiById.set(copy.id, copy);
    });
  }

  async deleteJob(jobId: string): Promise<void> {
    this.assertOpen();
    checkJobId(jobId);
    return this.write(jobId, `deleting job ${jobId}`, async (conn) => {
      // Its state has a chain of its own (see saveJobState): a state write made before the delete goes first.
      await this.chains.get(stateChain(jobId))?.catch(() => undefined);
      await conn.transaction((client) => deleteJobRows(client, conn.schema, jobId));
      this.apiById.delete(jobId);
      this.states.delete(jobId);
      this.executions.dropJob(jobId);
      await rm(join(this.jobsDir, jobId), { recursive: true, force: true });
    });
  }

  jobState(jobId: string): JobState {
    return { ...this.states.get(jobId) };
  }

  async saveJobState(jobId: string, patch: JobState): Promise<void> {
    this.assertOpen();
    checkJobId(jobId);
    const change = { ...patch };
    // A chain apart from the job's executions: a run's end (its execution and its last_success) commits
    // at once on two connections rather than one after the other (bench/pg-store.ts).
    // A run's end (its last_success) is retried like its execution's; other state writes (pause, a fired slot)
    // answer at once while the database is away.
    const endOfRun = Object.keys(change).every((key) => key === 'last_success');
    return this.write(stateChain(jobId), `saving the state of job ${jobId}`, async (conn) => {
      await upsertJobState(conn.writes, conn.schema, jobId, change);
      // Merged into memory as it is now, which another node's change may have updated meanwhile (cluster/change-feed.ts).
      // JSON drops undefined: memory holds what a restart would read back.
      this.states.set(jobId, JSON.parse(JSON.stringify({ ...this.states.get(jobId), ...change })) as JobState);
    }, { retry: endOfRun });
  }

  async addExecution(execution: Execution, historyLimit: number): Promise<void> {
    this.assertOpen();
    checkJobId(execution.job_id);
    checkExecutionId(execution.id);
    const json = JSON.stringify(execution);
    const stored = deepFreeze(execution);
    return this.write(stored.job_id, `recording execution ${stored.id} of job ${stored.job_id}`, async (conn) => {
      if (this.executions.get(stored.job_id, stored.id)) {
        throw new TypeError(`addExecution: execution ${stored.id} of job ${stored.job_id} is already stored; use updateExecution`);
      }
      const trimmed = this.executions.trimmedBy(stored.job_id, historyLimit, stored.id);
      await insertExecution(conn.writes, conn.schema, stored, json, trimmed.map((e) => e.id));
      this.executions.add(stored);
      this.executions.remove(stored.job_id, trimmed.map((e) => e.id));
      // Only once the database no longer lists them. One that never started has no log: no need to ask the disk.
      await Promise.all(trimmed.filter((e) => e.started_at !== null).map((e) => removeLog(this.logPath(e.job_id, e.id))));
    });
  }

  async updateExecution(execution: Execution): Promise<void> {
    this.assertOpen();
    const json = JSON.stringify(execution);
    const stored = deepFreeze(execution);
    // The end of a run must not be lost to a database restart: it is retried until the database is back.
    return this.write(stored.job_id, `recording execution ${stored.id} of job ${stored.job_id}`, async (conn) => {
      // Its job was deleted (or it was trimmed) while it ran: there is nothing left to update.
      if (!this.executions.get(stored.job_id, stored.id)) return;
      await updateExecutionRow(conn.writes, conn.schema, stored, json);
      this.executions.replace(stored);
    }, { retry: true });
  }

  getExecution(jobId: string, executionId: string): Execution | undefined {
    return this.executions.get(jobId, executionId);
  }

  latestExecution(jobId: string, filter?: (e: Execution) => boolean): Execution | undefined {
    return this.executions.latest(jobId, filter);
  }

  listExecutions(jobId: string, query: ExecutionQuery): Page<Execution> {
    return this.executions.list(jobId, query);
  }

  listAllExecutions(query: ExecutionQuery): Page<Execution> {
    return this.executions.listAll(query);
  }

  unfinishedExecutions(): Execution[] {
    return this.executions.unfinished();
  }

  /** Logs and pid files are local to the daemon that runs the execution: under `<data dir>/jobs/<job>/logs/`. */
  logPath(jobId: string, executionId: string): string {
    checkJobId(jobId);
    checkExecutionId(executionId);
    const dir = resolve(this.jobsDir, jobId);
    if (dirname(dir) !== this.jobsDir) checkJobId('..');
    return join(dir, 'logs', `${executionId}.log`);
  }

  /**
   * A log writer for the runner: the file of store/log-file.ts, whose chunks are saved to the database
   * when it closes (before the execution's end is recorded, on the same chain; retried like that end).
   */
  openLog(path: string, maxBytes: number): LogWriter {
    const file = createLogWriter(path, { maxBytes });
    const ids = this.idsOfLogPath(path);
    let closing: Promise<void> | undefined;
    return {
      path,
      write: (stream, chunk) => file.write(stream, chunk),
      note: (text) => file.note(text),
      tail: () => file.tail(),
      get bytesWritten() {
        return file.bytesWritten;
      },
      get bytesDropped() {
        return file.bytesDropped;
      },
      get truncated() {
        return file.truncated;
      },
      close: () => {
        closing ??= (async () => {
          await file.close();
          // Most runs print nothing and have no file: nothing to save, no round trip.
          if (ids && (await exists(path))) await this.saveLog(ids.jobId, ids.executionId);
        })();
        return closing;
      },
    };
  }

  /** Copies an execution's log file (if any) into the database. */
  async saveLog(jobId: string, executionId: string): Promise<void> {
    this.assertOpen();
    const path = this.logPath(jobId, executionId);
    await this.write(jobId, `saving the log of execution ${executionId} of job ${jobId}`, async (conn) => {
      // Its job was deleted (or it was trimmed) meanwhile: its chunks would belong to nothing.
      if (!this.executions.get(jobId, executionId)) return;
      await conn.transaction((client) => replaceLogChunks(client, conn.schema, jobId, executionId, readLogChunkBatches(path)));
    }, { retry: true });
  }

  /** Writes an execution's log file from the database when the data dir has none (before it is read). */
  async prepareLog(jobId: string, executionId: string): Promise<void> {
    const path = this.logPath(jobId, executionId);
    if (!this.conn || (await exists(path))) return;
    await restoreLogFile(this.conn.pool, this.conn.schema, jobId, executionId, path).catch((err: unknown) => {
      throw this.conn!.unavailable(err, `reading the log of execution ${executionId}`);
    });
  }

  /** The job and execution of a path logPath() made. */
  private idsOfLogPath(path: string): { jobId: string; executionId: string } | undefined {
    const m = /\/([^/]+)\/logs\/([^/]+)\.log$/.exec(path);
    if (!m || this.logPath(m[1]!, m[2]!) !== path) return undefined;
    return { jobId: m[1]!, executionId: m[2]! };
  }

  /**
   * Empties the store's tables, touching no local file (for `watchbell store copy --force`, whose
   * source may keep its logs in the same data dir).
   */
  async clear(): Promise<void> {
    this.assertOpen();
    await this.write('', 'emptying the store', async (conn) => {
      await Promise.allSettled([...this.chains.entries()].filter(([id]) => id !== '').map(([, p]) => p));
      await conn.pool.query(`TRUNCATE ${['api_jobs', 'job_states', 'executions', 'log_chunks'].map((t) => `${conn.schema}.${t}`).join(', ')}`);
      this.apiById.clear();
      this.states.clear();
      for (const id of this.executions.jobIds()) this.executions.dropJob(id);
    });
  }

  /**
   * Cluster mode: puts into memory a row another node wrote, as the change feed fetched it (undefined: it is
   * gone). Never written back; the job service is told by the feed (cluster/apply-changes.ts).
   */
  mirror(change: { job: string; definition: Job | undefined } | { job: string; state: JobState | undefined } | { job: string; execution: string; body: Execution | undefined }): void {
    // Logs this node copied from the database to read them (prepareLog) go with their execution or job.
    if ('definition' in change) {
      if (change.definition) this.apiById.set(change.job, change.definition);
      else if (this.apiById.delete(change.job)) {
        this.executions.dropJob(change.job);
        void rm(join(this.jobsDir, change.job), { recursive: true, force: true }).catch(() => undefined);
      }
    } else if ('state' in change) {
      if (change.state) this.states.set(change.job, mergedState(this.states.get(change.job), change.state));
      else this.states.delete(change.job);
    } else if (!change.body) {
      if (!this.executions.get(change.job, change.execution)) return;
      this.executions.remove(change.job, [change.execution]);
      void removeLog(this.logPath(change.job, change.execution)).catch(() => undefined);
    } else if (!this.executions.replace(deepFreeze(change.body))) this.executions.add(change.body);
  }

  /** Jobs with a stored state (for `watchbell store copy`). */
  stateJobIds(): string[] {
    return [...this.states.keys()];
  }

  /** True when the database answers a query now. */
  async isWritable(): Promise<boolean> {
    if (!this.conn || this.closing) return false;
    try {
      await this.conn.pool.query('SELECT 1');
      this.down = false;
      return true;
    } catch {
      this.down = true;
      return false;
    }
  }

  private async load(): Promise<void> {
    const conn = await connect(this.options.url, { writeFault: this.options.writeFault, applicationName: this.origin });
    try {
      await migrate(conn);
      const [jobs, states, executions] = await Promise.all([
        loadApiJobs(conn.pool, conn.schema),
        loadJobStates(conn.pool, conn.schema),
        loadExecutions(conn.pool, conn.schema),
      ]);
      for (const job of jobs) if (isValidJobId(job?.id)) this.apiById.set(job.id, job);
      for (const [id, state] of states) this.states.set(id, state);
      for (const e of executions) this.executions.add(deepFreeze(e));
      await mkdir(this.jobsDir, { recursive: true });
    } catch (err) {
      await conn.end().catch(() => undefined);
      throw conn.unavailable(err, 'opening');
    }
    this.conn = conn;
  }

  /**
   * Runs `task` after the job's earlier writes, tracked for close(). A failure rejects with
   * STORE_UNAVAILABLE (our own errors pass through); with `retry`, a database that cannot be reached
   * is tried again with backoff until it answers or the store closes.
   */
  private async write(jobId: string, doing: string, task: (conn: Connection) => Promise<void>, options: { retry?: boolean } = {}): Promise<void> {
    const conn = this.conn!;
    // While the database is away, a write that is not retried answers at once instead of waiting
    // behind one that is (an API request gets its 503 now, not when the database is back).
    if (this.down && !options.retry && !(await this.isWritable())) {
      throw new WatchbellError('STORE_UNAVAILABLE', `the store ${conn.url.shown} cannot be reached; ${doing} was not done`);
    }
    const attempt = async () => {
      for (let wait = RETRY_MIN_MS; ; wait = Math.min(RETRY_MAX_MS, wait * 2)) {
        try {
          await task(conn);
          this.down = false;
          return;
        } catch (err) {
          if (isConnectionError(err)) this.down = true;
          if (!options.retry || !isConnectionError(err) || this.closing) throw conn.unavailable(err, doing);
          await new Promise((r) => setTimeout(r, wait));
        }
      }
    };
    const previous = this.chains.get(jobId);
    const run = previous ? previous.catch(() => undefined).then(attempt) : attempt();
    this.chains.set(jobId, run);
    this.pending.add(run);
    void run.catch(() => undefined).finally(() => {
      this.pending.delete(run);
      if (this.chains.get(jobId) === run) this.chains.delete(jobId);
    });
    return run;
  }

  private assertOpen(): void {
    const where = this.conn?.url.shown ?? 'on PostgreSQL';
    if (this.closing) throw new WatchbellError('STORE_UNAVAILABLE', `the store ${where} is closed`);
    if (!this.opened) throw new WatchbellError('STORE_UNAVAILABLE', `the store ${where} is not open yet; call open() first`);
  }
}

/**
 * Another node's state of a job, keeping this node's newer last_slot and last_success: a row fetched before
 * this node's own write committed must not take them back (the database holds the newer one either way).
 */
function mergedState(mine: JobState | undefined, theirs: JobState): JobState {
  const out = { ...theirs };
  for (const key of ['last_slot', 'last_success'] as const) {
    const a = mine?.[key];
    if (a && (!out[key] || a > out[key]!)) out[key] = a;
  }
  return out;
}

/** The key of a job's chain of state writes. */
function stateChain(jobId: string): string {
  return `state:${jobId}`;
}

function checkJobId(id: string): void {
  if (!isValidJobId(id)) {
    throw new WatchbellError('VALIDATION_FAILED', `invalid job id ${JSON.stringify(id)}: expected a string matching ^[a-z0-9][a-z0-9_.-]{0,62}$ without ".."`);
  }
}

function checkExecutionId(id: string): void {
  if (!isValidExecutionId(id)) {
    throw new WatchbellError('VALIDATION_FAILED', `invalid execution id ${JSON.stringify(id)}: expected "exec-" and 20 base32 characters`);
  }
}

async function removeLog(path: string): Promise<void> {
  await Promise.all([path, indexPath(path)].map((p) => unlink(p).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  })));
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
