/** Composition root: config + store + scheduler + runner + API, signals, shutdown. */
import { rm, chmod, lstat, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { capConnections, defaultMaxConnections, openFileLimit } from './api/connection-limit.js';
import { connect, type AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createApp } from './api/app.js';
import { EventHub } from './api/events.js';
import { attachLogWebSocket } from './api/log-websocket.js';
import { loadUiAssets } from './api/static-ui.js';
import { answerClientError } from './api/client-error.js';
import { isLoopback, parseListen, type ListenAddress } from './config/listen.js';
import { loadConfig, type Config } from './config/load-config.js';
import { LabelSource } from './config/label-source.js';
import { ConfigReloader, type ReloadResult } from './config/reloader.js';
import type { ApiToken, DaemonSettings } from './config/settings.js';
import { WatchbellError } from './jobs/errors.js';
import { Events, type ReloadTrigger } from './jobs/events.js';
import { compactHeapAfterLoad } from './heap-compaction.js';
import { createLogger, logEvents, logLostAndFound } from './logger.js';
import { daemonMetricsSource } from './metrics/daemon-source.js';
import { Metrics } from './metrics/metrics.js';
import { Dispatcher } from './notify/dispatcher.js';
import { checkNotifiersInUse, secretsOf } from './notify/notifier-config.js';
import { previousOutcomeIn } from './notify/recovery.js';
import { execRecordPath } from './run/container/exec-record.js';
import { loadEngineClient } from './run/container/docker-engine.js';
import { dockerLabelEngine } from './run/container/label-engine.js';
import { stopContainerLeftovers } from './run/container/leftovers.js';
import { closeInheritedFds } from './run/inherited-fds.js';
import { Runner } from './run/runner.js';
import { nextRuns } from './schedule/next-slot.js';
import { Scheduler } from './schedule/scheduler.js';
import { JobService } from './service/job-service.js';
import { StoreReturnWatch } from './service/store-return.js';
import { acquireDataDirLock } from './store/data-dir-lock.js';
import { checkDataDirOwned } from './store/data-dir-owner.js';
import { prepareDataDir } from './store/data-dir-writable.js';
import { LowdbStore } from './store/lowdb-store.js';
import { openStore, storeLocation } from './store/open-store.js';
import type { Store } from './store/store.js';
import { recoverInterrupted } from './store/recover.js';
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
  let config: Config = await loadConfig(options.configFile, loadOptions);
  hideTokensFromJobs(config.api.tokens);
  hideNotifierSecretsFromJobs(config);
  const settings = config.daemon;
  const address = checkListen(settings.listen, config.api.tokens.length);
  const log = createLogger(settings);
  if (closedFds.length) log.info({ event: 'daemon.inherited_fds_closed', fds: closedFds }, `closed file descriptors inherited without close-on-exec (${closedFds.join(', ')}), so jobs do not get them`);

  // Resources are acquired in order and released in reverse by stop().
  const releasers: Array<() => Promise<void>> = [];
  const release = async () => {
    while (releasers.length) await releasers.pop()!().catch((err) => log.error({ event: 'daemon.stop_error', err }, 'error while stopping'));
  };
  try {
    // The data dir holds job definitions with their environment values (secrets): only the daemon's user may read it.
    await prepareDataDir(settings.data_dir);
    await checkDataDirOwned(settings.data_dir);
    await warnIfDataDirOpen(settings.data_dir, log);
    releasers.push(await acquireDataDirLock(settings.data_dir));
    const store = await openStore(settings);
    releasers.push(() => store.close());
    // The embedded store moves what it cannot read aside at open; PostgreSQL has no such files.
    if (store instanceof LowdbStore) logLostAndFound(store.lostAndFound, log);
    // The engine client is loaded only where a job runs in a container (docs/benchmarks.md: lean start).
    const usesEngine = settings.docker_labels || hasContainerJob(config.jobs.map((j) => j.spec)) || hasContainerJob(store.apiJobs());
    if (usesEngine) void loadEngineClient().catch(() => undefined);
    // Cluster mode (a PostgreSQL store): this node joins before it recovers, so it takes only its own executions.
    let running = () => 0;
    let stopAll = () => {};
    const cluster = settings.store === null ? undefined : await (await import('./cluster/start-cluster.js')).startCluster(settings, {
      version: VERSION, log, running: () => running(), stopAll: () => stopAll(),
    });
    if (cluster) releasers.push(() => cluster.close());
    const recovered = await recoverInterrupted(store, {
      // Other nodes' unfinished executions are theirs: still running there, or taken over once their lease runs out.
      // One `queued` without a node waits in the cluster's shared queue (cluster/work-queue.ts) for any node.
      mine: cluster && ((e) => (e.node === undefined && e.status !== 'queued') || e.node === cluster.node.name),
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
    const takenOver = cluster ? await (await import('./cluster/taken-over-orphans.js')).stopTakenOverOrphans(store, cluster.node.name, settings.kill_grace * 1000) : [];
    for (const o of [...recovered.orphans, ...takenOver]) {
      const ids = { job_id: o.jobId, execution_id: o.executionId, pid: o.pid };
      if (o.outcome === 'stopped') log.warn({ event: 'execution.orphan_stopped', ...ids, pids: o.pids, killed: o.killed }, 'stopped processes a previous daemon left running');
      if (o.outcome === 'not_ours') log.info({ event: 'execution.orphan_pid_reused', ...ids }, 'pid file names a process of another program; left alone');
      if (o.outcome === 'unverified') log.warn({ event: 'execution.orphan_unverified', ...ids }, 'a process group of a previous daemon may still run; without /proc it could not be verified, so it was left alone');
    }
    if (recovered.interrupted.length) log.warn({ event: 'executions.interrupted', count: recovered.interrupted.length, ids: recovered.interrupted.slice(0, 20) }, 'marked executions of a previous daemon as interrupted');

    const events = new Events();
    logEvents(events, log);
    const runner = new Runner({
      store, events, killGraceMs: settings.kill_grace * 1000, maxConcurrency: settings.max_concurrency, node: cluster?.node.name,
      // A PostgreSQL store saves each log to the database as it closes.
      openLog: (store as Store).openLog?.bind(store),
    });
    let service: JobService | undefined;
    const scheduler = new Scheduler({ onDue: (id, slot) => service?.onDue(id, slot), events });
    service = new JobService({
      store, scheduler, runner, events, timezone: settings.timezone, configFile: config.file, maxJobs: settings.max_jobs,
      notifiers: () => Object.keys(config.notifiers),
      slotClaims: cluster?.claims,
    });
    await cluster?.attach({
      store: store as Store & Required<Pick<Store, 'adoptExecution'>>, runner, events,
      jobs: () => service!.definitions(), job: (id) => service!.definition(id),
    });
    running = () => runner.running().length;
    stopAll = () => {
      for (const jobId of new Set([...runner.queued(), ...runner.running()].map((e) => e.job_id))) void runner.cancelJob(jobId).catch(() => undefined);
    };
    // Subscribed before the service starts, so catch-up runs are counted too.
    const metrics = new Metrics({
      events,
      source: daemonMetricsSource({ service: () => service, store, runner, notifiers: () => Object.keys(config.notifiers) }),
    });
    // Also before: catch-up runs notify too. Released after the runner (pushed before it), so the last runs' notifications go out.
    const notifications = new Dispatcher({
      events,
      notifiers: config.notifiers,
      job: (id) => service!.find(id),
      rules: (id) => service!.notifyRules(id),
      previous: previousOutcomeIn(store),
      publicUrl: settings.public_url,
      userAgent: `watchbell/${VERSION}`,
      secrets: () => config.api.tokens.map((t) => t.token),
    });
    releasers.push(() => notifications.close());
    await service.start(config.jobs);
    const storeReturn = new StoreReturnWatch({
      events, log, isWritable: () => store.isWritable(), onReturn: () => service!.catchUp(),
      where: storeLocation(settings).url ?? settings.data_dir,
    });
    releasers.push(async () => storeReturn.close());
    // The service holds the jobs now; a second copy of 100,000 job specs would only take memory.
    config = { ...config, jobs: [] };
    const gcMs = compactHeapAfterLoad(service.counts().total);
    if (gcMs !== null) log.debug({ event: 'daemon.heap_compacted', ms: Math.round(gcMs), rss_mib: Math.round(process.memoryUsage.rss() / 1048576) }, 'compacted the heap after loading a large config');
    releasers.push(async () => runner.shutdown(settings.shutdown_grace * 1000));
    scheduler.start();
    releasers.push(async () => scheduler.stop());
    if (settings.docker_labels) {
      // Jobs declared by container labels come and go with their containers (docs/containers.md).
      const labels = new LabelSource({ engine: dockerLabelEngine(), timezone: settings.timezone, events, apply: (jobs) => service!.applyLabelJobs(jobs) });
      labels.start();
      releasers.push(() => labels.close());
    }

    // Reloads (SIGHUP, the API, --watch) go through one queue; the daemon keeps its `daemon:` settings until restart.
    const reloader = new ConfigReloader({
      config,
      events,
      watch: settings.watch,
      load: () => loadConfig(options.configFile, loadOptions),
      apply: async (next) => {
        // Synchronously, before any await: no job may start under the new config while its secrets are still in the environment.
        hideTokensFromJobs(next.api.tokens);
        hideNotifierSecretsFromJobs(next);
        checkNotifiersInUse(() => store.apiJobs(), config.notifiers, next.notifiers);
        if (hasContainerJob(next.jobs.map((j) => j.spec))) void loadEngineClient().catch(() => undefined);
        const diff = await service!.applyConfig(next.jobs);
        config = { ...next, jobs: [], daemon: config.daemon };
        compactHeapAfterLoad(next.jobs.length);
        notifications.update(config.notifiers);
        return diff;
      },
    });
    reloader.start();
    releasers.push(async () => reloader.close());

    let stopping: Promise<void> | undefined;
    const liveEvents = new EventHub({ events, jobView: (id) => service!.find(id) });
    const app = createApp({
      liveEvents,
      ui: settings.ui ? loadUiAssets() : undefined,
      service,
      isStopping: () => stopping !== undefined,
      timezone: settings.timezone,
      previewSchedule: (schedule, timezone, n) => nextRuns(schedule, timezone, n),
      tokens: () => hideTokensFromJobs(config.api.tokens),
      logError: (err, info) => log.error({ event: 'api.error', err, ...info }, 'request failed'),
      reloadConfig: () => reloader.reload('api'),
      metrics: () => metrics.scrape(),
      nodes: cluster && (() => cluster.node.list()),
      metricsPublic: () => config.api.metrics_public === true,
      health: async () => {
        const writable = await store.isWritable();
        // A fenced node runs nothing: a load balancer must see it DOWN, not send it run-nows.
        const leaseHeld = cluster?.node.holdsLease() ?? true;
        return {
          status: writable && leaseHeld ? 'UP' : 'DOWN',
          ...(cluster ? { cluster: cluster.health() } : {}),
          version: VERSION,
          uptime: Math.round(process.uptime()),
          jobs: service!.counts(),
          running: runner.running().length,
          queued: runner.queued().length,
          store: { status: writable ? 'writable' : 'not writable', ...storeLocation(settings) },
          // A failed reload leaves the daemon UP: it runs the last good config, and says why the new one was refused.
          config: reloader.status(),
          // A target that cannot be reached never makes the daemon DOWN: its last error is shown here.
          notifiers: notifications.status(),
          events: liveEvents.status(),
        };
      },
    });
    // Headers over 16 KiB answer 431 (whatever NODE_OPTIONS says); timeouts are checked every second, not every 30 s.
    const server = createServer({ maxHeaderSize: 16 * 1024, connectionsCheckingInterval: 1000 }, app.callback());
    server.on('clientError', answerClientError);
    // Slow or idle clients must not hold the daemon's sockets forever.
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    const fdLimit = openFileLimit();
    const maxConnections = settings.max_connections ?? defaultMaxConnections(fdLimit, settings.max_concurrency);
    if (settings.max_connections !== null && fdLimit !== undefined && settings.max_connections > defaultMaxConnections(fdLimit, settings.max_concurrency)) {
      log.warn({ event: 'daemon.max_connections_high', max_connections: settings.max_connections, fd_limit: fdLimit }, `daemon.max_connections ${settings.max_connections} leaves too few of the ${fdLimit} file descriptors for running jobs; raise LimitNOFILE (ulimit -n) or lower it`);
    }
    capConnections(server, maxConnections, (open) => log.warn({ event: 'api.connections_refused', open, max_connections: maxConnections }, 'refusing connections: daemon.max_connections reached'));
    const closeLogSockets = attachLogWebSocket(server, {
      service, tokens: () => hideTokensFromJobs(config.api.tokens), isStopping: () => stopping !== undefined,
      logError: (err, info) => log.error({ event: 'api.error', err, ...info }, 'request failed'),
    });
    const url = await listen(server, address);
    cluster?.node.setAddress(url);
    // After listen: an accept that fails (EMFILE even after libuv's reserve descriptor) must not stop the daemon.
    server.on('error', (err) => log.error({ event: 'api.accept_failed', err }, 'accepting a connection failed'));
    releasers.push(() => closeServer(server, address));
    // Upgraded sockets are no longer the server's, and event streams never end by themselves: both closed before it.
    releasers.push(async () => {
      closeLogSockets();
      liveEvents.close();
    });
    log.info({ event: 'daemon.started', url, config: config.file, data_dir: settings.data_dir, store: storeLocation(settings), jobs: service.counts().total, version: VERSION, fd_limit: fdLimit ?? null, max_connections: maxConnections }, `watchbell listening on ${url}`);

    const daemon: Daemon = {
      url,
      log,
      reload: (trigger = 'signal') => reloader.reload(trigger),
      stop(reason = 'stop requested') {
        stopping ??= (async () => {
          log.info({ event: 'daemon.stopping', reason, grace_seconds: settings.shutdown_grace }, 'stopping');
          await release();
          log.info({ event: 'daemon.stopped' }, 'stopped');
        })();
        return stopping;
      },
    };
    if (options.handleSignals) installSignals(daemon, settings.shutdown_grace);
    return daemon;
  } catch (err) {
    await release();
    throw err;
  }
}

/** True when a job runs in a container (a job's steps reach the engine client at their first run). */
function hasContainerJob(jobs: ReadonlyArray<{ container?: unknown }>): boolean {
  return jobs.some((j) => j.container);
}

function checkListen(listen: string, tokenCount: number): ListenAddress {
  const { address, error } = parseListen(listen);
  if (!address) throw new WatchbellError('LISTEN_REFUSED', `listen address ${JSON.stringify(listen)} ${error}`);
  if (address.kind === 'tcp' && !isLoopback(address.host) && tokenCount === 0) {
    throw new WatchbellError(
      'LISTEN_REFUSED',
      `refusing to listen on ${listen} without API tokens: anyone who reaches the API can run commands on this host. ` +
        'Add a token under api.tokens in the config, or listen on 127.0.0.1.',
    );
  }
  return address;
}

async function listen(server: Server, address: ListenAddress): Promise<string> {
  if (address.kind === 'unix') await removeStaleSocket(address.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (address.kind === 'unix') {
      // The socket is created inside listen(): with this umask it is never, even briefly, open to other users.
      const umask = process.umask(0o117);
      try {
        server.listen(address.path, resolve);
      } finally {
        process.umask(umask);
      }
    } else server.listen(address.port, address.host, resolve);
  });
  if (address.kind === 'unix') {
    await chmod(address.path, 0o660);
    return `unix:${address.path}`;
  }
  const info = server.address() as AddressInfo;
  const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
  return `http://${host}:${info.port}`;
}

const hiddenTokenLists = new WeakSet<ApiToken[]>();

/**
 * Jobs inherit the daemon's environment. An API token given as `${VAR}` would be in every job's, and in
 * the log of any job that prints its environment, where a read token could find an admin one: the
 * variables holding a token's value are removed from the daemon's own environment (the config is
 * interpolated from a copy). Returns `tokens`; called again after a reload brings new ones.
 */
function hideTokensFromJobs(tokens: ApiToken[]): ApiToken[] {
  if (hiddenTokenLists.has(tokens)) return tokens;
  hiddenTokenLists.add(tokens);
  const secrets = new Set(tokens.map((t) => t.token));
  removeFromEnvironment((value) => secrets.has(value));
  return tokens;
}

/**
 * Notifier URLs, secrets and passwords given as `${VAR}` are kept from jobs' environment too, for the same
 * reason. A variable may hold part of one (`url: https://hooks.example.com/?token=${TOKEN}`), so a value of 6
 * characters or more found in a URL's path or query, a secret, a password or a header value goes too (a host
 * name alone is no secret, and variables such as `HOST` stay).
 */
function hideNotifierSecretsFromJobs(config: Config): void {
  const secrets = Object.values(config.notifiers).flatMap(secretsOf);
  const parts = secrets.filter((s) => !/^https?:\/\//.test(s));
  if (secrets.length) removeFromEnvironment((value) => secrets.includes(value) || (value.length >= 6 && parts.some((p) => p.includes(value))));
}

/** Deletes from the daemon's environment (which jobs inherit) every variable whose value `isSecret`. */
function removeFromEnvironment(isSecret: (value: string) => boolean): void {
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && isSecret(value)) delete process.env[name];
}

/**
 * Removes a socket left by a daemon that died. A socket something still listens on (another daemon, another
 * service) is never taken over, and anything else at that path is never deleted: both refuse the start.
 */
async function removeStaleSocket(path: string): Promise<void> {
  const found = await lstat(path).catch(() => undefined);
  if (!found) return;
  if (!found.isSocket()) {
    throw new WatchbellError('LISTEN_REFUSED', `listen address unix:${path}: ${path} exists and is not a socket; choose another path`);
  }
  const answer = await socketAnswers(path);
  if (answer !== 'ECONNREFUSED') {
    const why = answer === 'listening' ? `a process is listening on ${path} (another watchbell?)` : `${path} could not be checked (${answer})`;
    throw new WatchbellError('LISTEN_REFUSED', `listen address unix:${path}: ${why}; stop it or choose another path`);
  }
  await rm(path, { force: true });
}

/** Connects to a unix socket: 'listening', or the error code (ECONNREFUSED: nobody listens, the socket is dead). */
function socketAnswers(path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const timer = setTimeout(() => {
      socket.destroy();
      // A listener too busy to accept within 2 s is still alive.
      resolve('listening');
    }, 2000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('listening');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
  });
}

/** Job definitions in the data dir hold environment values: warn when other users can read them. */
async function warnIfDataDirOpen(dir: string, log: Logger): Promise<void> {
  const mode = (await stat(dir)).mode & 0o777;
  if (mode & 0o007) {
    log.warn({ event: 'data_dir.permissions', data_dir: dir, mode: mode.toString(8) }, `data dir ${dir} has mode ${mode.toString(8)}: other users can read job definitions and their environment values; run chmod 700 on it`);
  }
}

async function closeServer(server: Server, address: ListenAddress): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // Requests still open after the grace of shutdown are cut.
    setTimeout(() => server.closeAllConnections(), 1000).unref();
  });
  if (address.kind === 'unix') await rm(address.path, { force: true });
}

function installSignals(daemon: Daemon, graceSeconds: number): void {
  const onStop = (signal: NodeJS.Signals) => {
    // A stop that hangs past its grace must not leave the service half-alive: exit with a reason.
    const force = setTimeout(() => {
      daemon.log.error({ event: 'daemon.stop_timeout' }, `shutdown did not finish within ${graceSeconds + 15}s after ${signal}; exiting`);
      process.exit(1);
    }, (graceSeconds + 15) * 1000);
    force.unref();
    daemon.stop(signal).then(
      () => process.exit(0),
      (err) => {
        daemon.log.error({ event: 'daemon.stop_failed', err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onStop);
  process.once('SIGINT', onStop);
  // The outcome is logged by the reload itself (config.reloaded or config.reload_failed).
  process.on('SIGHUP', () => {
    daemon.reload('signal').catch(() => undefined);
  });
}
