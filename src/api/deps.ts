/** What the API needs from the rest of the daemon; the daemon passes these in (createApp(deps)). */
import type { ReloadResult } from '../config/reloader.js';
import type { NodeView } from '../cluster/cluster-node.js';
import type { ApiToken } from '../config/settings.js';
import type { JobService } from '../service/job-service.js';
import type { EventHub } from './events.js';
import type { loadUiAssets } from './static-ui.js';

export interface HealthReport {
  status: 'UP' | 'DOWN';
  [key: string]: unknown;
}

export interface ApiDeps {
  service: JobService;
  /** The next `n` run times of a schedule, from the same computation that fires jobs. */
  previewSchedule(schedule: string, timezone: string, n: number): Date[];
  /** The default time zone for previews that name none. */
  timezone: string;
  health(): Promise<HealthReport>;
  /** Tokens in force (they change on reload). */
  tokens(): ApiToken[];
  /** True once the daemon has begun to stop: live log follows end with a note. */
  isStopping(): boolean;
  /** Reports a 5xx with its stack; 4xx are the client's business. */
  logError(err: unknown, info: { method: string; path: string }): void;
  /** `GET /metrics`: Prometheus text and its content type; without it there is no /metrics. */
  metrics?(): Promise<{ contentType: string; body: string }>;
  /** True when /metrics needs no token even with tokens configured (`api.metrics_public`). */
  metricsPublic?(): boolean;
  /** `GET /api/v1/events`; without it that route answers 404. */
  liveEvents?: EventHub;
  /** The dashboard's built files, null when not built; undefined: no dashboard (`daemon.ui: false`). */
  ui?: ReturnType<typeof loadUiAssets>;
  /** `GET /api/v1/nodes`: the cluster's nodes; absent (the embedded store, no cluster): an empty list. */
  nodes?(): Promise<NodeView[]>;
  /** `POST /config/reload`: re-reads the config and applies it; rejects with ConfigError (nothing changed) when invalid. */
  reloadConfig?(): Promise<ReloadResult>;
}
