/**
 * `watchbell store copy`: moves an installation between the embedded data dir and PostgreSQL (either
 * way): API jobs, every job's state, executions with their attempts, and log files. Both ends are
 * opened as a daemon would open them, so what is copied is what a daemon would have read.
 */
import { copyFile, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { WatchbellError } from '../jobs/errors.js';
import { isValidJobId } from '../jobs/ids.js';
import type { Store } from './store.js';

export interface CopyCounts {
  jobs: number;
  states: number;
  executions: number;
  logs: number;
}

export interface StoreEnd {
  store: Store;
  /** Job ids holding a state or executions (the Store interface lists only API jobs and executions). */
  jobIds(): Promise<string[]>;
  /** Empties it for --force; refuses (throws) when that would delete files the other end still uses. */
  clear(): Promise<void>;
  /** Takes in an execution's log file once it is in place (PostgreSQL: saves its chunks). */
  saveLog?(jobId: string, executionId: string): Promise<void>;
}

/** Job ids the embedded store in `dataDir` holds anything of: its config-job facts and its job dirs. */
export async function embeddedJobIds(dataDir: string): Promise<string[]> {
  const ids = new Set<string>();
  try {
    const meta = JSON.parse(await readFile(join(dataDir, 'config-jobs.json'), 'utf8')) as { jobs?: Record<string, unknown> };
    for (const id of Object.keys(meta.jobs ?? {})) ids.add(id);
  } catch {
    // none yet
  }
  for (const name of await readdir(join(dataDir, 'jobs')).catch(() => [] as string[])) ids.add(name);
  return [...ids].filter(isValidJobId);
}

/** Deletes every job `end` holds, with its files. */
export async function deleteAll(end: StoreEnd): Promise<void> {
  const ids = new Set([...(await end.jobIds()), ...end.store.apiJobs().map((j) => j.id), ...jobsWithExecutions(end.store)]);
  for (const id of ids) await end.store.deleteJob(id);
}

/** True when `end` holds any job, state or execution. */
export async function isEmpty(end: StoreEnd): Promise<boolean> {
  const { store } = end;
  if (store.apiJobs().length > 0 || store.listAllExecutions({ limit: 0, offset: 0 }).total > 0) return false;
  return (await end.jobIds()).every((id) => Object.keys(store.jobState(id)).length === 0);
}

/**
 * Copies everything of `from` into `to` (both open). A non-empty target is refused unless `force`,
 * which first deletes what the target holds.
 */
export async function copyStore(from: StoreEnd, to: StoreEnd, options: { force: boolean; describeTarget: string }): Promise<CopyCounts> {
  if (!(await isEmpty(to))) {
    if (!options.force) {
      throw new WatchbellError('VALIDATION_FAILED', `${options.describeTarget} is not empty; refusing to overwrite it (add --force to replace what it holds)`);
    }
    await to.clear();
  }
  const counts: CopyCounts = { jobs: 0, states: 0, executions: 0, logs: 0 };
  for (const job of from.store.apiJobs()) {
    await to.store.saveApiJob(job);
    counts.jobs++;
  }
  const ids = new Set([...(await from.jobIds()), ...from.store.apiJobs().map((j) => j.id), ...jobsWithExecutions(from.store)]);
  // Jobs go a few at a time: each is one ordered series of writes, different jobs share the connections.
  const queue = [...ids];
  const worker = async () => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      const state = from.store.jobState(id);
      if (Object.keys(state).length > 0) {
        await to.store.saveJobState(id, state);
        counts.states++;
      }
      const { total } = from.store.listExecutions(id, { limit: 0, offset: 0 });
      const executions = from.store.listExecutions(id, { limit: total, offset: 0 }).items.reverse();
      for (const e of executions) {
        // The target keeps the object it is given, frozen: a copy, since the source froze its own.
        await to.store.addExecution(structuredClone(e), Infinity);
        counts.executions++;
        // A PostgreSQL source writes the file from its rows where the data dir has none.
        await from.store.prepareLog?.(id, e.id);
        if (await copyLog(from.store.logPath(id, e.id), to.store.logPath(id, e.id))) {
          await to.saveLog?.(id, e.id);
          counts.logs++;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return counts;
}

function jobsWithExecutions(store: Store): string[] {
  const { total } = store.listAllExecutions({ limit: 0, offset: 0 });
  return [...new Set(store.listAllExecutions({ limit: total, offset: 0 }).items.map((e) => e.job_id))];
}

/** Copies a log file and its index when they exist and the two paths differ; true when there was a log. */
async function copyLog(from: string, to: string): Promise<boolean> {
  if (resolve(from) === resolve(to)) return stat(from).then(() => true, () => false);
  let copied = false;
  for (const [a, b] of [[from, to], [`${from}.idx`, `${to}.idx`]] as const) {
    try {
      await mkdir(dirname(b), { recursive: true });
      await copyFile(a, b);
      copied = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return copied;
}
