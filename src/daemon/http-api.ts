/** The HTTP API and dashboard: the app, its server with connection limits, live log sockets, and the listen. */
import { createServer } from 'node:http';
import type { Logger } from 'pino';
import { createApp } from '../api/app.js';
import { answerClientError } from '../api/client-error.js';
import { capConnections, defaultMaxConnections, openFileLimit } from '../api/connection-limit.js';
import type { HealthReport } from '../api/deps.js';
import { EventHub } from '../api/events.js';
import { attachLogWebSocket } from '../api/log-websocket.js';
import { loadUiAssets } from '../api/static-ui.js';
import type { Cluster } from '../cluster/start-cluster.js';
import type { ListenAddress } from '../config/listen.js';
import type { ConfigReloader } from '../config/reloader.js';
import type { DaemonSettings } from '../config/settings.js';
import { nextRuns } from '../schedule/next-slot.js';
import { closeServer, listen } from './listen.js';
import type { LiveConfig } from './live-config.js';
import type { Scheduling } from './scheduling.js';
import { hideTokensFromJobs } from './secrets.js';

export interface HttpApi {
  /** `http://127.0.0.1:PORT` or `unix:/path`. */
  url: string;
  /** Undefined where the limit cannot be read. */
  fdLimit: number | undefined;
  maxConnections: number;
  /** Ends live event streams and log sockets, then closes the server. */
  close(): Promise<void>;
}

/** The live event stream, made before the health report that counts its subscribers. */
export function createLiveEvents(core: Scheduling): EventHub {
  return new EventHub({ events: core.events, jobView: (id) => core.service.find(id) });
}

/** Builds the app and listens on `address`. */
export async function startApi(o: {
  address: ListenAddress;
  settings: DaemonSettings;
  log: Logger;
  live: LiveConfig;
  core: Scheduling;
  liveEvents: EventHub;
  reloader: ConfigReloader;
  cluster?: Cluster;
  isStopping(): boolean;
  health(): Promise<HealthReport>;
}): Promise<HttpApi> {
  const { settings, log, live, core, liveEvents, cluster } = o;
  const logError = (err: unknown, info: { method: string; path: string }) => log.error({ event: 'api.error', err, ...info }, 'request failed');
  const app = createApp({
    liveEvents,
    ui: settings.ui ? loadUiAssets() : undefined,
    service: core.service,
    isStopping: o.isStopping,
    timezone: settings.timezone,
    previewSchedule: (schedule, timezone, n) => nextRuns(schedule, timezone, n),
    tokens: () => hideTokensFromJobs(live.current.api.tokens),
    logError,
    reloadConfig: () => o.reloader.reload('api'),
    metrics: () => core.metrics.scrape(),
    nodes: cluster && (() => cluster.node.list()),
    metricsPublic: () => live.current.api.metrics_public === true,
    health: o.health,
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
    service: core.service, tokens: () => hideTokensFromJobs(live.current.api.tokens), isStopping: o.isStopping, logError,
  });
  const url = await listen(server, o.address);
  // Recorded at once: other nodes read the logs of this node's running executions through it.
  await cluster?.node.setAddress(url);
  // After listen: an accept that fails (EMFILE even after libuv's reserve descriptor) must not stop the daemon.
  server.on('error', (err) => log.error({ event: 'api.accept_failed', err }, 'accepting a connection failed'));
  return {
    url,
    fdLimit,
    maxConnections,
    async close() {
      // Upgraded sockets are no longer the server's, and event streams never end by themselves: both closed before it.
      try {
        closeLogSockets();
        liveEvents.close();
      } finally {
        await closeServer(server, o.address);
      }
    },
  };
}
