/** /health: UP while the store is writable (and, in a cluster, this node holds its lease), with what each part reports. */
import type { HealthReport } from '../api/deps.js';
import type { EventHub } from '../api/events.js';
import type { Cluster } from '../cluster/start-cluster.js';
import type { ConfigReloader } from '../config/reloader.js';
import type { DaemonSettings } from '../config/settings.js';
import type { Dispatcher } from '../notify/dispatcher.js';
import { storeLocation } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import type { Scheduling } from './scheduling.js';

/** Reads the daemon's parts into one report. */
export async function healthReport(o: {
  version: string;
  settings: DaemonSettings;
  store: Store;
  cluster?: Cluster;
  core: Scheduling;
  reloader: ConfigReloader;
  notifications: Dispatcher;
  liveEvents: EventHub;
}): Promise<HealthReport> {
  const { cluster, core } = o;
  const writable = await o.store.isWritable();
  // A fenced node runs nothing: a load balancer must see it DOWN, not send it run-nows.
  const leaseHeld = cluster?.node.holdsLease() ?? true;
  return {
    status: writable && leaseHeld ? 'UP' : 'DOWN',
    // Nodes alive and dead as of this node's last heartbeat (a health check never waits on the database).
    ...(cluster ? { cluster: { node: cluster.node.name, lease: leaseHeld ? 'held' : 'lost', nodes: cluster.census.status() } } : {}),
    version: o.version,
    uptime: Math.round(process.uptime()),
    jobs: core.service.counts(),
    running: core.runner.running().length,
    queued: core.runner.queued().length,
    store: { status: writable ? 'writable' : 'not writable', ...storeLocation(o.settings) },
    // A failed reload leaves the daemon UP: it runs the last good config, and says why the new one was refused.
    // In a cluster, also the config jobs defined differently on other live nodes (cluster/config-drift.ts).
    config: cluster ? { ...o.reloader.status(), drift: cluster.drift.status().jobs } : o.reloader.status(),
    // A target that cannot be reached never makes the daemon DOWN: its last error is shown here.
    notifiers: o.notifications.status(),
    events: o.liveEvents.status(),
  };
}
