/** Executions as the benches record them: queued, then finished with a typical output tail. */
import { logRoute, type Execution } from '../src/jobs/execution.js';
import { newExecutionId } from '../src/jobs/ids.js';
import type { Store } from '../src/store/store.js';

/** A typical job's output tail; real ones are up to 4 KiB. */
const OUTPUT = 'backup: 1234 files, 56 MiB, ok\n'.repeat(16);

/** A queued scheduled execution of `jobId` with a fresh id. */
export function execution(jobId: string): Execution {
  const id = newExecutionId();
  return {
    id, job_id: jobId, status: 'queued', trigger: 'schedule', scheduled_at: new Date().toISOString(),
    started_at: null, finished_at: null, duration: null, exit_code: null, signal: null, reason: null,
    output: '', error: null, retry_count: 0, attempts: [], log_route: logRoute(jobId, id),
  };
}

/** `e` finished with success. */
export function finish(e: Execution): Execution {
  const now = new Date().toISOString();
  return {
    ...e, status: 'success', started_at: now, finished_at: now, duration: 0.01, exit_code: 0, reason: 'exit',
    output: OUTPUT, attempts: [{ started_at: now, finished_at: now, exit_code: 0, signal: null, reason: 'exit', error: null }],
  };
}

/** Milliseconds to record one execution into `jobId` (added queued, then finished), keeping `historyLimit`. */
export async function record(store: Store, jobId: string, historyLimit: number): Promise<number> {
  const started = performance.now();
  const e = execution(jobId);
  await store.addExecution(e, historyLimit);
  await store.updateExecution(finish(e));
  return performance.now() - started;
}

/** Fills jobs `job-0`..`job-(jobs-1)` with `historyLimit` finished executions each, a few jobs' writes at a time. */
export async function seed(store: Store, jobs: number, historyLimit: number, batch = 50): Promise<void> {
  for (let first = 0; first < jobs; first += batch) {
    const writes: Promise<void>[] = [];
    for (let j = first; j < Math.min(jobs, first + batch); j++) {
      writes.push((async () => {
        for (let k = 0; k < historyLimit; k++) await store.addExecution(finish(execution(`job-${j}`)), historyLimit);
      })());
    }
    await Promise.all(writes);
  }
}

/**
 * Record times in a small store (one job) and a big one (`bigJobs` jobs, written in a spread order), in
 * alternation so a slow moment of the disk or database hits both alike; the first `warmup` pairs warm up
 * the JIT and caches and are not kept.
 */
export async function recordTimes(small: Store, big: Store, o: { bigJobs: number; warmup: number; records: number; historyLimit: number }): Promise<{ small: number[]; big: number[] }> {
  let next = 0;
  const anyBigJob = () => `job-${(next = (next + 7919) % o.bigJobs)}`;
  const times = { small: [] as number[], big: [] as number[] };
  for (let i = -o.warmup; i < o.records; i++) {
    const a = await record(small, 'job-0', o.historyLimit);
    const b = await record(big, anyBigJob(), o.historyLimit);
    if (i >= 0) {
      times.small.push(a);
      times.big.push(b);
    }
  }
  return times;
}
