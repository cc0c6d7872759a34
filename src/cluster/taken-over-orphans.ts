/**
 * A node back after its executions were taken over (marked interrupted by another node while it was
 * away) may still have their processes on this host: its pid files say so, and they are stopped at
 * start, as a crashed daemon's are (store/orphans.ts).
 */
import { pidFilePath, stopOrphans, type OrphanResult } from '../store/orphans.js';
import type { Store } from '../store/store.js';
import { TAKEN_OVER } from './takeover.js';

/** Stops the leftover processes of this node's executions that another node took over. */
export async function stopTakenOverOrphans(store: Store, node: string, graceMs: number): Promise<OrphanResult[]> {
  const { items } = store.listAllExecutions({ status: 'failure', limit: Number.MAX_SAFE_INTEGER, offset: 0 });
  const candidates = items.filter((e) => e.node === node && e.reason === 'interrupted' && e.error?.includes(TAKEN_OVER));
  if (candidates.length === 0) return [];
  // All of them, pid file or not: one taken over just as it started may have none yet, and one scan of the
  // processes' markers serves them all.
  const results = await stopOrphans(candidates.map((e) => ({ jobId: e.job_id, executionId: e.id, pidFile: pidFilePath(store.logPath(e.job_id, e.id)) })), { graceMs });
  return results.filter((r) => r.outcome !== 'none');
}
