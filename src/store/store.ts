/** The Store interface: where jobs made by the API, per-job state and executions live. */
import type { Execution, ExecutionStatus } from '../jobs/execution.js';
import type { Job } from '../jobs/job.js';
import type { LogWriter } from './log-file.js';

/** What the daemon remembers of a job besides its definition; kept for config jobs too. */
export interface JobState {
  /** Set by pause/resume; survives restarts and config reloads. */
  paused?: boolean;
  /** A one-shot job that has fired. */
  completed?: boolean;
  /** RFC 3339 time of the newest slot that was fired (for catch-up after downtime). */
  last_slot?: string | null;
  /** RFC 3339 end of the job's newest successful execution; kept here because history_limit may trim that execution. */
  last_success?: string;
  /** When the daemon first saw a config job, and when its definition last changed. */
  created_at?: string;
  updated_at?: string;
  /** A digest of a config job's definition, to tell a changed job on reload or restart. */
  fingerprint?: string;
}

export interface ExecutionQuery {
  status?: ExecutionStatus;
  limit: number;
  offset: number;
}

export interface Page<T> {
  items: T[];
  total: number;
}

/**
 * Reads are synchronous, from memory; writes resolve once the change is on disk (a crash of the
 * process after the promise resolves never loses it). Every implementation passes
 * test/store/store-contract.ts.
 *
 * The store keeps its own copies: changing an object after passing it in changes nothing stored.
 * Executions it returns are shared and read-only (LowdbStore freezes them); to change one, pass a
 * changed copy to updateExecution. Jobs and states it returns are the caller's copies.
 * Writes before open() or after close() reject with STORE_UNAVAILABLE; a job or execution id that
 * is invalid (and could lead outside the data dir) is refused with VALIDATION_FAILED.
 */
export interface Store {
  /** Loads the data dir; idempotent. */
  open(): Promise<void>;
  /** Waits for pending writes, then refuses new ones; idempotent. */
  close(): Promise<void>;

  /** Jobs whose `source` is `api`. */
  apiJobs(): Job[];
  saveApiJob(job: Job): Promise<void>;
  /** Removes a job's definition (if an API job), its state, its executions and their logs. */
  deleteJob(jobId: string): Promise<void>;

  jobState(jobId: string): JobState;
  /** Merges `patch` into the job's state. */
  saveJobState(jobId: string, patch: JobState): Promise<void>;

  /**
   * Inserts an execution, then trims the job's history to `historyLimit`, oldest first, deleting
   * the trimmed logs. Queued and running executions, and the one just added, are never trimmed,
   * so a job may briefly hold more. The store keeps `execution` itself, frozen: pass a copy you will
   * not change (a copy made here would double the allocation of 10,000 skipped runs a second).
   */
  addExecution(execution: Execution, historyLimit: number): Promise<void>;
  /**
   * Replaces a stored execution (same id), keeping `execution` itself, frozen, like addExecution; ignored
   * when it is no longer stored (its job was deleted).
   */
  updateExecution(execution: Execution): Promise<void>;
  getExecution(jobId: string, executionId: string): Execution | undefined;
  /** The job's newest execution that passes `filter`. */
  latestExecution(jobId: string, filter?: (e: Execution) => boolean): Execution | undefined;
  /** A job's executions, newest first. */
  listExecutions(jobId: string, query: ExecutionQuery): Page<Execution>;
  /** Executions of all jobs, newest first. */
  listAllExecutions(query: ExecutionQuery): Page<Execution>;
  /** Executions still `queued` or `in_progress` (after a crash: the interrupted ones), oldest first. */
  unfinishedExecutions(): Execution[];

  /** Path of an execution's log file (see store/log-file.ts for the format); throws on an invalid id. */
  logPath(jobId: string, executionId: string): string;
  /** True when a write to the data dir succeeds now (for /health). */
  isWritable(): Promise<boolean>;

  /**
   * A store that keeps logs elsewhere than the files (PostgreSQL): the runner's log writer for an
   * execution's logPath(), saving the log when it closes; and, before a log is read, its file written
   * back from there when the data dir has none.
   */
  openLog?(path: string, maxBytes: number): LogWriter;
  prepareLog?(jobId: string, executionId: string): Promise<void>;
}
