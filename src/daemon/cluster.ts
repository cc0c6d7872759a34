/** Cluster mode's part of the daemon: joined only with a PostgreSQL store, whose code is loaded only then. */
import type { Logger } from 'pino';
import type { Cluster } from '../cluster/start-cluster.js';
import type { DaemonSettings } from '../config/settings.js';
import type { ConfigJob } from '../config/load-config.js';
import { killLiveGroups } from '../run/process-tree.js';
import type { Runner } from '../run/runner.js';
import { digest } from '../service/job-service.js';

/**
 * Joins the cluster when the store is PostgreSQL; undefined with the embedded store. The runner is made
 * later (this node joins before it recovers, so it takes only its own executions): it is asked for late.
 */
export async function joinCluster(settings: DaemonSettings, o: { version: string; log: Logger; runner(): Runner | undefined }): Promise<Cluster | undefined> {
  if (settings.store === null) return undefined;
  const { startCluster } = await import('../cluster/start-cluster.js');
  return startCluster(settings, {
    version: o.version,
    log: o.log,
    running: () => o.runner()?.running().length ?? 0,
    stopAll: () => {
      const runner = o.runner();
      if (!runner) return;
      for (const jobId of new Set([...runner.queued(), ...runner.running()].map((e) => e.job_id))) void runner.cancelJob(jobId).catch(() => undefined);
    },
    killAll: killLiveGroups,
  });
}

/**
 * Publishes the fingerprints of this node's config jobs (at start and after each reload), for the drift
 * report. Only a report: a failure is logged, and the config is in force whatever the database says.
 */
export async function publishConfigJobs(cluster: Cluster | undefined, jobs: readonly ConfigJob[], log: Logger): Promise<void> {
  if (!cluster) return;
  await cluster.drift.publish(jobs.map((j) => ({ id: j.id, fingerprint: digest(j.spec) }))).catch((err: unknown) => {
    log.warn({ event: 'cluster.config_publish_failed', err }, 'publishing the config jobs\' fingerprints failed; config drift is not known until the next reload');
  });
}
