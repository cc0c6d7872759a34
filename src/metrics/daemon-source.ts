/** What the daemon's metrics read at scrape time: the job service, the store's job states and history, the runner, the notifiers. */
import type { Runner } from '../run/runner.js';
import type { JobService } from '../service/job-service.js';
import type { Store } from '../store/store.js';
import type { JobMetrics, MetricsSource } from './metrics.js';

export interface DaemonParts {
  /** A getter, since the daemon subscribes the metrics before the service has loaded its jobs. */
  service: () => JobService | undefined;
  store: Pick<Store, 'jobState' | 'latestExecution'>;
  runner: Pick<Runner, 'running' | 'queued'>;
  /** Names of the configured notifiers, as of the last config load. */
  notifiers: () => string[];
}

/** A MetricsSource over the daemon's service, store and runner. */
export function daemonMetricsSource(parts: DaemonParts): MetricsSource {
  return {
    jobs(): JobMetrics[] {
      const service = parts.service();
      if (!service) return [];
      const page = service.list({ limit: Number.MAX_SAFE_INTEGER, offset: 0 });
      return page.items.map((job) => {
        // The history is read only for data written before job state kept the last success.
        const ended = parts.store.jobState(job.id).last_success
          ?? parts.store.latestExecution(job.id, (e) => e.status === 'success')?.finished_at
          ?? null;
        return {
          id: job.id,
          nextRun: job.next_run === null ? null : new Date(job.next_run),
          lastSuccess: ended === null ? null : new Date(ended),
        };
      });
    },
    running: () => parts.runner.running().length,
    queued: () => parts.runner.queued().length,
    notifiers: parts.notifiers,
  };
}
