/**
 * Executions held in memory by a store whose durable copy is elsewhere (PostgreSQL): per job, oldest
 * first, with the reads of the Store interface answered by execution-pages.ts as for the embedded
 * store. The store changes this index only once its write has committed.
 */
import { FINISHED_STATUSES, type Execution, type ExecutionStatus } from '../jobs/execution.js';
import { allPage, jobPage, unfinished, type ExecutionList } from './execution-pages.js';
import { insertionIndex } from './job-record.js';
import type { ExecutionQuery, Page } from './store.js';

/** One job's executions, oldest first (execution ids sort by creation), and their indexes. */
class JobExecutions implements ExecutionList {
  executions: Execution[] = [];
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

  /** Adds a frozen execution in id order. */
  add(e: Execution): void {
    let rec = this.jobs.get(e.job_id);
    if (!rec) this.jobs.set(e.job_id, (rec = new JobExecutions()));
    rec.executions.splice(insertionIndex(rec.executions, e.id), 0, e);
    rec.byId.set(e.id, e);
    rec.count(e.status, 1);
  }

  /** Replaces a held execution; false when it is not held. */
  replace(e: Execution): boolean {
    const rec = this.jobs.get(e.job_id);
    const old = rec?.byId.get(e.id);
    if (!rec || !old) return false;
    rec.executions[insertionIndex(rec.executions, e.id)] = e;
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
    rec.executions = rec.executions.filter((e) => !gone.has(e.id));
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
   * The oldest finished executions that adding `addedId` would push past `historyLimit`, without
   * changing anything (job-record.ts's trim() does the same in place, for the embedded store).
   * Queued and running ones are kept even past the limit, and so is the one being added.
   */
  trimmedBy(jobId: string, historyLimit: number, addedId: string): Execution[] {
    const limit = Number.isFinite(historyLimit) ? Math.max(1, Math.floor(historyLimit)) : Infinity;
    const list = this.jobs.get(jobId)?.executions ?? [];
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
    const list = this.jobs.get(jobId)?.executions ?? [];
    for (let i = list.length - 1; i >= 0; i--) if (!filter || filter(list[i]!)) return list[i];
    return undefined;
  }

  list(jobId: string, query: ExecutionQuery): Page<Execution> {
    return jobPage(this.jobs.get(jobId), query);
  }

  listAll(query: ExecutionQuery): Page<Execution> {
    return allPage(this.jobs.values(), query);
  }

  unfinished(): Execution[] {
    return unfinished(this.jobs.values());
  }
}
