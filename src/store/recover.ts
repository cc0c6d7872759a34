/** After a crash: executions a dead daemon left `queued` or `in_progress` become failures with reason `interrupted`. */
import type { Execution } from '../jobs/execution.js';
import type { Store } from './store.js';

/** Marks every unfinished execution as interrupted; returns their ids. */
export async function recoverInterrupted(store: Store, now: Date = new Date()): Promise<string[]> {
  const ids: string[] = [];
  for (const e of store.unfinishedExecutions()) {
    const started = e.started_at ? Date.parse(e.started_at) : null;
    const fixed: Execution = {
      ...e,
      status: 'failure',
      reason: 'interrupted',
      error: 'interrupted: the daemon stopped while this execution ran',
      finished_at: now.toISOString(),
      duration: started === null ? null : Math.max(0, (now.getTime() - started) / 1000),
      attempts: e.attempts.map((a) =>
        a.finished_at ? a : { ...a, finished_at: now.toISOString(), reason: 'interrupted', error: 'interrupted: the daemon stopped' },
      ),
    };
    await store.updateExecution(fixed);
    ids.push(e.id);
  }
  return ids;
}
