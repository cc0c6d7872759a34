/** Config reloads (SIGHUP, the API, --watch) through one queue; the daemon keeps its `daemon:` settings until restart. */
import { compactHeapAfterLoad } from '../heap-compaction.js';
import type { Config } from '../config/load-config.js';
import { ConfigReloader } from '../config/reloader.js';
import type { Events } from '../jobs/events.js';
import type { Dispatcher } from '../notify/dispatcher.js';
import { checkNotifiersInUse } from '../notify/notifier-config.js';
import { loadEngineClient } from '../run/container/docker-engine.js';
import type { JobService } from '../service/job-service.js';
import type { Store } from '../store/store.js';
import type { LiveConfig } from './live-config.js';
import { hideNotifierSecretsFromJobs, hideTokensFromJobs } from './secrets.js';
import { hasContainerJob } from './store.js';

/** Starts the reloader; each reload applies the new jobs as a diff and replaces `live.current`. */
export function startReloader(o: {
  live: LiveConfig;
  events: Events;
  service: JobService;
  store: Store;
  notifications: Dispatcher;
  /** Reads the config file (and its includes) again. */
  load(): Promise<Config>;
  /** After the new jobs are in force (cluster mode: their fingerprints are published). */
  applied?(jobs: Config['jobs']): Promise<void>;
}): ConfigReloader {
  const { live, service, store } = o;
  const reloader = new ConfigReloader({
    config: live.current,
    events: o.events,
    watch: live.current.daemon.watch,
    load: o.load,
    apply: async (next) => {
      // Synchronously, before any await: no job may start under the new config while its secrets are still in the environment.
      hideTokensFromJobs(next.api.tokens);
      hideNotifierSecretsFromJobs(next);
      checkNotifiersInUse(() => store.apiJobs(), live.current.notifiers, next.notifiers);
      if (hasContainerJob(next.jobs.map((j) => j.spec))) void loadEngineClient().catch(() => undefined);
      const diff = await service.applyConfig(next.jobs);
      await o.applied?.(next.jobs);
      live.current = { ...next, jobs: [], daemon: live.current.daemon };
      compactHeapAfterLoad(next.jobs.length);
      o.notifications.update(live.current.notifiers);
      return diff;
    },
  });
  reloader.start();
  return reloader;
}
