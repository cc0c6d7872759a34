/** The daemon's working core: typed events, the runner, the scheduler and the job service over them, and metrics. */
import type { Logger } from 'pino';
import type { Cluster } from '../cluster/start-cluster.js';
import type { DaemonSettings } from '../config/settings.js';
import { Events } from '../jobs/events.js';
import { logEvents } from '../logger.js';
import { daemonMetricsSource } from '../metrics/daemon-source.js';
import { Metrics } from '../metrics/metrics.js';
import { Runner } from '../run/runner.js';
import { Scheduler } from '../schedule/scheduler.js';
import { JobService } from '../service/job-service.js';
import type { Store } from '../store/store.js';

export interface Scheduling {
  events: Events;
  runner: Runner;
  scheduler: Scheduler;
  service: JobService;
  metrics: Metrics;
}

/** Builds the core, not started yet (the service starts with the config's jobs, the scheduler after). */
export function createScheduling(o: {
  store: Store;
  settings: DaemonSettings;
  log: Logger;
  cluster?: Cluster;
  configFile: string;
  /** Names of the notifiers in force (they change on reload). */
  notifiers(): string[];
}): Scheduling {
  const { store, settings, cluster } = o;
  const events = new Events();
  logEvents(events, o.log);
  const runner = new Runner({
    store, events, killGraceMs: settings.kill_grace * 1000, maxConcurrency: settings.max_concurrency, node: cluster?.node.name,
    // A PostgreSQL store saves each log to the database as it closes.
    openLog: store.openLog?.bind(store),
  });
  let service: JobService | undefined;
  const scheduler = new Scheduler({ onDue: (id, slot) => service?.onDue(id, slot), events });
  service = new JobService({
    store, scheduler, runner, events, timezone: settings.timezone, configFile: o.configFile, maxJobs: settings.max_jobs,
    notifiers: o.notifiers,
    slotClaims: cluster?.claims,
    cluster: cluster?.remote(store),
  });
  // Subscribed before the service starts, so catch-up runs are counted too.
  const metrics = new Metrics({
    events,
    source: daemonMetricsSource({ service: () => service, store, runner, notifiers: o.notifiers }),
    cluster: cluster && { node: cluster.node.name, status: () => ({ ...cluster.census.status(), drifted: cluster.drift.status().count }) },
  });
  return { events, runner, scheduler, service, metrics };
}
