/**
 * Pages of executions read from the embedded store's memory, newest first: one job's list walked
 * backwards, and every job's lists merged (a k-way merge, so a page costs O((offset + limit) log jobs),
 * not O(all executions)).
 */
import { FINISHED_STATUSES, type Execution, type ExecutionStatus } from '../jobs/execution.js';
import { compareIds, type JobRecord } from './job-record.js';
import type { ExecutionQuery, Page } from './store.js';

/** What a page is read from: a job's executions, oldest first, and their count by status (JobRecord, or the PostgreSQL store's index). */
export type ExecutionList = Pick<JobRecord, 'executions' | 'counts'>;

/** One job's executions, newest first. */
export function jobPage(rec: ExecutionList | undefined, query: ExecutionQuery): Page<Execution> {
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

/** Executions of every job, newest first. */
export function allPage(records: Iterable<ExecutionList>, query: ExecutionQuery): Page<Execution> {
  const { status } = query;
  const { limit, offset } = paging(query);
  const heap = new CursorHeap();
  let total = 0;
  for (const rec of records) {
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

/** Executions still queued or in progress, oldest first. */
export function unfinished(records: Iterable<ExecutionList>): Execution[] {
  const out: Execution[] = [];
  for (const rec of records) {
    if (!rec.counts.get('queued') && !rec.counts.get('in_progress')) continue;
    for (const e of rec.executions) if (!FINISHED_STATUSES.has(e.status)) out.push(e);
  }
  return out.sort((a, b) => compareIds(a.id, b.id));
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
