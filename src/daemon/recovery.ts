/** What a previous daemon left: its unfinished executions marked interrupted, its processes stopped. */
import type { Logger } from 'pino';
import type { Cluster } from '../cluster/start-cluster.js';
import type { DaemonSettings } from '../config/settings.js';
import { execRecordPath } from '../run/container/exec-record.js';
import { stopContainerLeftovers } from '../run/container/leftovers.js';
import { recoverInterrupted } from '../store/recover.js';
import type { Store } from '../store/store.js';

/** Recovers this node's unfinished executions and logs each orphan process found. */
export async function recoverPreviousRun(store: Store, { settings, log, cluster, usesEngine }: { settings: DaemonSettings; log: Logger; cluster?: Cluster; usesEngine: boolean }): Promise<void> {
  const recovered = await recoverInterrupted(store, {
    // Other nodes' unfinished executions are theirs: still running there, or taken over once their lease runs out.
    mine: cluster && ((e) => e.node === undefined || e.node === cluster.node.name),
    killGraceMs: settings.kill_grace * 1000,
    // The engine does not stop a dead daemon's containers and exec'd processes: they are found and stopped here.
    stopLeftovers: !usesEngine ? undefined : (unfinished) => stopContainerLeftovers(unfinished, {
      known: (jobId, executionId) => store.getExecution(jobId, executionId) !== undefined,
      execRecordPath: (jobId, executionId) => execRecordPath(store.logPath(jobId, executionId)),
      graceMs: settings.kill_grace * 1000,
      log,
    }),
  });
  // A node back after others took its executions over stops what they left running here too.
  const takenOver = cluster ? await (await import('../cluster/taken-over-orphans.js')).stopTakenOverOrphans(store, cluster.node.name, settings.kill_grace * 1000) : [];
  for (const o of [...recovered.orphans, ...takenOver]) {
    const ids = { job_id: o.jobId, execution_id: o.executionId, pid: o.pid };
    if (o.outcome === 'stopped') log.warn({ event: 'execution.orphan_stopped', ...ids, pids: o.pids, killed: o.killed }, 'stopped processes a previous daemon left running');
    if (o.outcome === 'not_ours') log.info({ event: 'execution.orphan_pid_reused', ...ids }, 'pid file names a process of another program; left alone');
    if (o.outcome === 'unverified') log.warn({ event: 'execution.orphan_unverified', ...ids }, 'a process group of a previous daemon may still run; without /proc it could not be verified, so it was left alone');
  }
  if (recovered.interrupted.length) log.warn({ event: 'executions.interrupted', count: recovered.interrupted.length, ids: recovered.interrupted.slice(0, 20) }, 'marked executions of a previous daemon as interrupted');
}
