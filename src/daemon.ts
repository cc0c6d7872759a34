/** Composition root: the daemon's parts, started in order and stopped in reverse; each part lives in src/daemon/. */
import type { Logger } from 'pino';
import { loadConfig } from './config/load-config.js';
import type { ReloadResult } from './config/reloader.js';
import type { DaemonSettings } from './config/settings.js';
import type { ReloadTrigger } from './jobs/events.js';
import { compactHeapAfterLoad } from './heap-compaction.js';
import { createLogger } from './logger.js';
import { closeInheritedFds } from './run/inherited-fds.js';
import { StoreReturnWatch } from './service/store-return.js';
import { storeLocation } from './store/open-store.js';
import { joinCluster, publishConfigJobs } from './daemon/cluster.js';
import { lockDataDir } from './daemon/data-dir.js';
import { healthReport } from './daemon/health.js';
import { createLiveEvents, startApi } from './daemon/http-api.js';
import { checkListen } from './daemon/listen.js';
import type { LiveConfig } from './daemon/live-config.js';
import { startNotifications } from './daemon/notifications.js';
import { Parts } from './daemon/parts.js';
import { recoverPreviousRun } from './daemon/recovery.js';
import { startReloader } from './daemon/reload.js';
import { createScheduling, type Scheduling } from './daemon/scheduling.js';
import { hideNotifierSecretsFromJobs, hideTokensFromJobs } from './daemon/secrets.js';
import { startLabelJobs } from './daemon/label-jobs.js';
import { installSignals } from './daemon/signals.js';
import { openDaemonStore, preloadEngineClient } from './daemon/store.js';
import { VERSION } from './version.js';

export { VERSION };

export interface DaemonOptions {
  configFile: string;
  overrides?: Partial<DaemonSettings>;
  env?: NodeJS.ProcessEnv;
  /** Install SIGTERM/SIGINT/SIGHUP handlers (the CLI does; in-process tests do not). */
  handleSignals?: boolean;
  /** Close descriptors this process inherited without close-on-exec, so jobs do not get them (the CLI does: it owns the process). */
  closeInheritedFds?: boolean;
}

export interface Daemon {
  /** `http://127.0.0.1:PORT` or `unix:/path`. */
  readonly url: string;
  readonly log: Logger;
  /** Re-reads the config file (and its includes) and applies it as a diff; throws ConfigError and keeps the running config when invalid. */
  reload(trigger?: ReloadTrigger): Promise<ReloadResult>;
  /** Stops firing, lets running executions finish within shutdown_grace, records the rest as cancelled, closes the store. Idempotent. */
  stop(reason?: string): Promise<void>;
}

/** Starts a daemon; rejects with a WatchbellError (bad config, locked data dir, refused listen address). */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  // First: a descriptor inherited from whoever started the daemon must not reach any job (docs/security.md).
  const closedFds = options.closeInheritedFds ? closeInheritedFds() : [];
  // A copy: token values are removed from process.env below, and reloads must still find them.
  const loadOptions = { env: options.env ?? { ...process.env }, overrides: options.overrides ?? {} };
  const live: LiveConfig = { current: await loadConfig(options.configFile, loadOptions) };
  hideTokensFromJobs(live.current.api.tokens);
  hideNotifierSecretsFromJobs(live.current);
  const settings = live.current.daemon;
  const address = checkListen(settings.listen, live.current.api.tokens.length);
  const log = createLogger(settings);
  if (closedFds.length) log.info({ event: 'daemon.inherited_fds_closed', fds: closedFds }, `closed file descriptors inherited without close-on-exec (${closedFds.join(', ')}), so jobs do not get them`);

  const parts = new Parts(log);
  try {
    parts.onStop(await lockDataDir(settings.data_dir, log));
    const store = parts.add(await openDaemonStore(settings, log));
    const usesEngine = preloadEngineClient(settings, live.current, store);
    // Cluster mode (a PostgreSQL store): this node joins before it recovers, so it takes only its own executions.
    let core: Scheduling | undefined;
    const cluster = await joinCluster(settings, { version: VERSION, log, runner: () => core?.runner });
    if (cluster) parts.add(cluster);
    await recoverPreviousRun(store, { settings, log, cluster, usesEngine });

    core = createScheduling({ store, settings, log, cluster, configFile: live.current.file, notifiers: () => Object.keys(live.current.notifiers) });
    const { service, runner, scheduler } = core;
    // Before the service starts: catch-up runs notify too. Stopped after the runner, so the last runs' notifications go out.
    const notifications = parts.add(startNotifications({ events: core.events, service, store, settings, live, userAgent: `watchbell/${VERSION}` }));
    await service.start(live.current.jobs);
    await publishConfigJobs(cluster, live.current.jobs, log);
    // Other nodes' changes from here on (and what changed since the store was read) reach this node's jobs.
    await cluster?.follow({ service, cancel: (jobId, executionId) => runner.cancel(jobId, executionId) });
    parts.add(new StoreReturnWatch({
      events: core.events, log, isWritable: () => store.isWritable(), onReturn: () => service.catchUp(),
      where: storeLocation(settings).url ?? settings.data_dir,
    }));
    // The service holds the jobs now; a second copy of 100,000 job specs would only take memory.
    live.current = { ...live.current, jobs: [] };
    const gcMs = compactHeapAfterLoad(service.counts().total);
    if (gcMs !== null) log.debug({ event: 'daemon.heap_compacted', ms: Math.round(gcMs), rss_mib: Math.round(process.memoryUsage.rss() / 1048576) }, 'compacted the heap after loading a large config');
    parts.onStop(() => runner.shutdown(settings.shutdown_grace * 1000));
    scheduler.start();
    parts.onStop(() => scheduler.stop());
    if (settings.docker_labels) parts.add(startLabelJobs(settings, core));
    const reloader = parts.add(startReloader({ live, events: core.events, service, store, notifications, load: () => loadConfig(options.configFile, loadOptions),
      applied: (jobs) => publishConfigJobs(cluster, jobs, log) }));

    let stopping: Promise<void> | undefined;
    const liveEvents = createLiveEvents(core);
    const api = parts.add(await startApi({
      address, settings, log, live, core, liveEvents, reloader, cluster,
      isStopping: () => stopping !== undefined,
      health: () => healthReport({ version: VERSION, settings, store, cluster, core: core!, reloader, notifications, liveEvents }),
    }));
    log.info({ event: 'daemon.started', url: api.url, config: live.current.file, data_dir: settings.data_dir, store: storeLocation(settings), jobs: service.counts().total, version: VERSION, fd_limit: api.fdLimit ?? null, max_connections: api.maxConnections }, `watchbell listening on ${api.url}`);

    const daemon: Daemon = {
      url: api.url,
      log,
      reload: (trigger = 'signal') => reloader.reload(trigger),
      stop(reason = 'stop requested') {
        stopping ??= (async () => {
          log.info({ event: 'daemon.stopping', reason, grace_seconds: settings.shutdown_grace }, 'stopping');
          await parts.stopAll();
          log.info({ event: 'daemon.stopped' }, 'stopped');
        })();
        return stopping;
      },
    };
    if (options.handleSignals) installSignals(daemon, settings.shutdown_grace);
    return daemon;
  } catch (err) {
    await parts.stopAll();
    throw err;
  }
}
