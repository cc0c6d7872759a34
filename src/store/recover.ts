/**
 * After a crash: executions a dead daemon left `queued` or `in_progress` become failures with reason
 * `interrupted`, once the processes they left running are stopped (see orphans.ts).
 */
import { rm } from 'node:fs/promises';
import type { Execution } from '../jobs/execution.js';
import { pidFilePath, stopOrphans, type OrphanResult } from './orphans.js';
import type { Store } from './store.js';

export interface RecoverOptions {
  now?: Date;
  /** Between SIGTERM and SIGKILL to a leftover process group; default 10 s. */
  killGraceMs?: number;
  /** Where processes are read from; default /proc. */
  procDir?: string;
  /**
   * Stops what executions left beyond the host's processes (containers: run/container/leftovers.ts), before
   * their records change; called even when none is unfinished (a finished one may have left a container).
   * Resolves with a note, per execution id, added to its `error`.
   */
  stopLeftovers?: (unfinished: readonly Execution[]) => Promise<ReadonlyMap<string, string>>;
  /** Which unfinished executions are this daemon's to recover (cluster mode: its own node's); default all. */
  mine?: (e: Execution) => boolean;
}

export interface Recovery {
  /** Ids of the executions marked interrupted, oldest first. */
  interrupted: string[];
  /** What was found of each one's processes, in the same order. */
  orphans: OrphanResult[];
}

const INTERRUPTED = 'interrupted: the daemon stopped while this execution ran';

/** Stops the leftover processes of every unfinished execution, then marks each interrupted. */
export async function recoverInterrupted(store: Store, options: RecoverOptions = {}): Promise<Recovery> {
  const mine = options.mine;
  const unfinished = mine ? store.unfinishedExecutions().filter(mine) : store.unfinishedExecutions();
  const notes = (await options.stopLeftovers?.(unfinished)) ?? new Map<string, string>();
  if (unfinished.length === 0) return { interrupted: [], orphans: [] };
  // Stopped before the records change, so an execution is never shown finished while its processes still run.
  // After the containers: their processes carry the marker too (on the engine's host), and go better through the engine.
  const orphans = await stopOrphans(
    unfinished.map((e) => ({ jobId: e.job_id, executionId: e.id, pidFile: pidFilePath(store.logPath(e.job_id, e.id)) })),
    { graceMs: options.killGraceMs, procDir: options.procDir },
  );
  const now = options.now ?? new Date();
  const interrupted: string[] = [];
  for (const [i, e] of unfinished.entries()) {
    // "None of its processes was still running" would read oddly after a note that its container was stopped.
    const fixed = interruptedRecord(e, now, `${INTERRUPTED}${notes.has(e.id) && orphans[i]!.outcome === 'none' ? '' : orphanNote(orphans[i]!)}${notes.get(e.id) ?? ''}`);
    await store.updateExecution(fixed);
    // A step's outputs file (run/step-run.ts) that the dead daemon had not read and removed yet.
    if (e.steps) await rm(`${store.logPath(e.job_id, e.id)}.outputs`, { force: true });
    interrupted.push(e.id);
  }
  return { interrupted, orphans };
}

/**
 * An unfinished execution as a `failure` with reason `interrupted` at `now`: its open attempt ends, the step in
 * progress fails with it and the ones after it never ran (a restart reruns from that step).
 */
export function interruptedRecord(e: Execution, now: Date, error: string, why = 'the daemon stopped'): Execution {
  const started = e.started_at ? Date.parse(e.started_at) : null;
  const at = now.toISOString();
  return {
    ...e,
    status: 'failure',
    reason: 'interrupted',
    error,
    finished_at: at,
    duration: started === null ? null : Math.max(0, (now.getTime() - started) / 1000),
    attempts: e.attempts.map((a) => (a.finished_at ? a : { ...a, finished_at: at, reason: 'interrupted', error: `interrupted: ${why}` })),
    ...(e.steps ? { steps: e.steps.map((st) => st.status === 'in_progress' ? { ...st, status: 'failure' as const, reason: 'interrupted' as const, error: `interrupted: ${why}`, finished_at: at } : st.status === 'pending' ? { ...st, status: 'skipped' as const, error: `skipped: ${why}` } : st) } : {}),
  };
}

/** What the execution's `error` adds about its processes. */
function orphanNote(r: OrphanResult): string {
  switch (r.outcome) {
    case 'stopped':
      return `; its processes left running (process group ${r.pid}) were stopped at restart${r.killed ? ' with SIGKILL' : ''}`;
    case 'unverified':
      return `; process group ${r.pid} may still run it: without /proc it could not be verified as this execution's, so it was left alone`;
    case 'not_ours':
      return `; none of its processes was still running (pid ${r.pid} of its pid file now belongs to another program, left alone)`;
    case 'none':
      return r.verified ? '; none of its processes was still running' : '';
  }
}
