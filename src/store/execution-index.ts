/**
 * Executions held in memory, per job, oldest first, with the reads of the Store interface
 * (get, latest, list one job's or all, unfinished) answered from them. A store whose durable copy is
 * elsewhere (PostgreSQL) changes this index only once its write has committed.
 */
import { FINISHED_STATUSES, type Execution, type ExecutionStatus } from '../jobs/execution.js';
import type { ExecutionQuery, Page } from './store.js';

/** One job's executions, oldest first (execution ids sort by creation), and their indexes. */
class JobExecutions {
  list: Execution[] = [];
  readonly byId = new Map<string, Execution>();
  readonly counts = new Map<ExecutionStatus, number>();

  count(status: ExecutionStatus, delta: number): void {
    this.counts.set(status, (this.counts.get(status) ?? 0) + delta);
  }
}

export class ExecutionIndex {
  private readonly jobs = new Map<string, JobExecutions>();

  /** Jobs holding at least one execution. */
  jobIds(): string[] {
    return [...this.jobs.keys()];
  }

  get(jobId: string, executionId: string): Execution | undefined {
    return this.jobs.get(jobId)?.byId.get(executionId);
  }

  /** Executions of a job, oldest first (shared: do not change). */
  all(jobId: string): readonly Execution[] {
    return this.jobs.get(jobId)?.list ?? [];
  }

  /** Adds a frozen execution in id order. */
  add(e: Execution): void {
    let rec = this.jobs.get(e.job_id);
    if (!rec) this.jobs.set(e.job_id, (rec = new JobExecutions()));
    rec.list.splice(insertionIndex(rec.list, e.id), 0, e);
    rec.byId.set(e.id, e);
    rec.count(e.status, 1);
  }

  /** Replaces a held execution; false when it is not held. */
  replace(e: Execution): boolean {
    const rec = this.jobs.get(e.job_id);
    const old = rec?.byId.get(e.id);
    if (!rec || !old) return false;
    rec.list[insertionIndex(rec.list, e.id)] = e;
    rec.byId.set(e.id, e);
    rec.count(old.status, -1);
    rec.count(e.status, 1);
    return true;
  }

  /** Drops executions of one job by id. */
  remove(jobId: string, ids: readonly string[]): void {
    const rec = this.jobs.get(jobId);
    if (!rec || ids.length === 0) return;
    const gone = new Set(ids);
    rec.list = rec.list.filter((e) => !gone.has(e.id));
    for (const id of gone) {
      const e = rec.byId.get(id);
      if (!e) continue;
      rec.byId.delete(id);
      rec.count(e.status, -1);
    }
  }

  dropJob(jobId: string): void {
    this.jobs.delete(jobId);
  }

  /**
   * The oldest finished executions that adding one more (`addedId`) would push past `historyLimit`.
   * Queued and running ones are kept even past the limit, since their runner still writes their log
   * and will update them; so is the one just added (a `skipped` beside a long run would otherwise vanish at once).
   */
  trimmedBy(jobId: string, historyLimit: number, addedId: string): Execution[] {
    const limit = Number.isFinite(historyLimit) ? Math.max(1, Math.floor(historyLimit)) : Infinity;
    const list = this.jobs.get(jobId)?.list ?? [];
    let excess = list.length + 1 - limit;
    const out: Execution[] = [];
    for (let i = 0; i < list.length && excess > 0; i++) {
      const e = list[i]!;
      if (FINISHED_STATUSES.has(e.status) && e.id !== addedId) {
        out.push(e);
        excess--;
      }
    }
    return out;
  }

  latest(jobId: string, filter?: (e: Execution) => boolean): Execution | undefined {
    const list = this.jobs.get(jobId)?.list ?? [];
    for (let i = list.length - 1; i >= 0; i--) if (!filter || filter(list[i]!)) return list[i];
    return undefined;
  }

  list(jobId: string, query: ExecutionQuery): Page<Execution> {
    const rec = this.jobs.get(jobId);
    if (!rec) return { items: [], total: 0 };
    const { limit, offset } = paging(query);
    const total = query.status ? (rec.counts.get(query.status) ?? 0) : rec.list.length;
    const cursor = { list: rec.list, i: rec.list.length - 1 };
    const items: Execution[] = [];
    for (let k = 0; k < offset + limit && advance(cursor, query.status); k++, cursor.i--) {
      if (k >= offset) items.push(cursor.list[cursor.i]!);
    }
    return { items, total };
  }

  /** Executions of all jobs, newest first: a k-way merge of the per-job lists, O((offset + limit) log jobs). */
  listAll(query: ExecutionQuery): Page<Execution> {
    const { status } = query;
    const { limit, offset } = paging(query);
    const heap: Cursor[] = [];
    let total = 0;
    for (const rec of this.jobs.values()) {
      const n = status ? (rec.counts.get(status) ?? 0) : rec.list.length;
      if (n === 0) continue;
      total += n;
      const cursor = { list: rec.list, i: rec.list.length - 1 };
      if (advance(cursor, status)) heap.push(cursor);
    }
    heapify(heap);
    const items: Execution[] = [];
    for (let k = 0; k < offset + limit && heap.length > 0; k++) {
      const cursor = heap[0]!;
      if (k >= offset) items.push(cursor.list[cursor.i]!);
      cursor.i--;
      if (!advance(cursor, status)) {
        const last = heap.pop()!;
        if (heap.length === 0) break;
        if (last !== cursor) heap[0] = last;
      }
      siftDown(heap, 0);
    }
    return { items, total };
  }

  /** Executions still queued or in progress, oldest first. */
  unfinished(): Execution[] {
    const out: Execution[] = [];
    for (const rec of this.jobs.values()) {
      if (!rec.counts.get('queued') && !rec.counts.get('in_progress')) continue;
      for (const e of rec.list) if (!FINISHED_STATUSES.has(e.status)) out.push(e);
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}

/** Stored executions are shared with callers, frozen so nobody changes them without saving. */
export function deepFreeze(e: Execution): Execution {
  if (Array.isArray(e.attempts)) {
    for (const a of e.attempts) Object.freeze(a);
    Object.freeze(e.attempts);
  }
  return Object.freeze(e);
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

/** Cursor `a` points at a newer execution than `b` (the heap is a max-heap by id). */
function newer(a: Cursor, b: Cursor): boolean {
  return a.list[a.i]!.id > b.list[b.i]!.id;
}

function heapify(h: Cursor[]): void {
  for (let i = (h.length >> 1) - 1; i >= 0; i--) siftDown(h, i);
}

function siftDown(h: Cursor[], i: number): void {
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let best = i;
    if (l < h.length && newer(h[l]!, h[best]!)) best = l;
    if (r < h.length && newer(h[r]!, h[best]!)) best = r;
    if (best === i) return;
    [h[i], h[best]] = [h[best]!, h[i]!];
    i = best;
  }
}
