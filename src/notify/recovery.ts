/**
 * `recovered`: a success whose job's previous outcome was a failure. The previous outcome is that of the job's
 * newest execution created before this one that ended in success or failure, read from the store, so it holds
 * across restarts; skipped and cancelled executions are not outcomes and change nothing, and executions a dead
 * daemon left running (recorded as failures, reason `interrupted`) count as failures.
 */
import type { Execution } from '../jobs/execution.js';
import type { Store } from '../store/store.js';

type Outcome = 'success' | 'failure';

/** Tells, execution by execution, whether a success is a recovery. */
export class RecoveryTracker {
  /**
   * The last outcome per job seen since start, for when the store no longer has the previous execution: with
   * `history_limit: 1` it is trimmed as the next one is added. One short entry per job id.
   */
  private readonly last = new Map<string, Outcome>();

  /** `previous` gives the job's newest finished (success or failure) execution created before `e`, from the store. */
  constructor(private readonly previous: (e: Execution) => Execution | undefined) {}

  /** Records an ended execution; true when it is a success following a failure. */
  record(e: Execution): boolean {
    if (e.status !== 'success' && e.status !== 'failure') return false;
    const before = this.previous(e)?.status ?? this.last.get(e.job_id);
    this.last.set(e.job_id, e.status);
    return e.status === 'success' && before === 'failure';
  }
}

/** The store lookup RecoveryTracker needs: the job's newest success or failure created before `e` (ids sort by creation). */
export function previousOutcomeIn(store: Pick<Store, 'latestExecution'>): (e: Execution) => Execution | undefined {
  return (e) => store.latestExecution(e.job_id, (x) => x.id < e.id && (x.status === 'success' || x.status === 'failure'));
}
