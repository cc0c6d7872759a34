/**
 * One job's part of the embedded store in memory: its executions (oldest first, with indexes by id
 * and by status), its runtime state, and the bookkeeping of its journal file and of the lines on
 * their way to the write-ahead log.
 */
import { join } from 'node:path';
import { FINISHED_STATUSES, type Execution, type ExecutionStatus } from '../jobs/execution.js';
import { JOURNAL_FILE } from './job-journal.js';
import type { JobState } from './store.js';

/** Who waits for a line to reach the write-ahead log. */
export interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** One job's journal and the indexes kept beside it in memory. */
export class JobRecord {
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

/**
 * Drops the oldest finished executions beyond `historyLimit`. Queued and running ones are kept
 * even past the limit, since their runner still writes their log and will update them; so is the
 * one just added (a `skipped` beside a long run would otherwise vanish at once).
 */
export function trim(rec: JobRecord, historyLimit: number, addedId: string): Execution[] {
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
export function deepFreeze(e: Execution): Execution {
  if (Array.isArray(e.attempts)) {
    for (const a of e.attempts) Object.freeze(a);
    Object.freeze(e.attempts);
  }
  return Object.freeze(e);
}

export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Where `id` goes in an oldest-first list; new ids are the newest, so check the end first. */
export function insertionIndex(list: Execution[], id: string): number {
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

export function indexOf(list: Execution[], id: string): number {
  const i = insertionIndex(list, id);
  return list[i]?.id === id ? i : -1;
}
