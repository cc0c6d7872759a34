/** The daemon's own settings (`daemon:` and `api:`), their defaults, and their schema. */
import type { SchemaObject } from 'ajv';
import { DURATION_SCHEMA } from '../jobs/job-schema.js';

export interface ApiToken {
  name: string;
  token: string;
  scope: 'admin' | 'read';
}

export interface DaemonSettings {
  /** `HOST:PORT` the API listens on. */
  listen: string;
  /** Absolute path of the data dir (with a PostgreSQL store: only the lock, pid files and anything local). */
  data_dir: string;
  /** `postgres://user@host:5432/db?schema=watchbell`: keep jobs, executions and logs in PostgreSQL. Null: the embedded store in data_dir. */
  store: string | null;
  /** Default time zone of jobs. */
  timezone: string;
  /** Executions running at once across all jobs. */
  max_concurrency: number;
  /** Jobs the daemon holds at most (config and API together); creating one more through the API answers 409 TOO_MANY_JOBS. */
  max_jobs: number;
  /** Open API connections at most; one more is answered 503. Null: computed from the open-file limit (api/connection-limit.ts). */
  max_connections: number | null;
  /** Seconds running executions get to finish on SIGTERM. */
  shutdown_grace: number;
  /** Seconds between SIGTERM and SIGKILL when an attempt is stopped. */
  kill_grace: number;
  /** `json` lines for machines, `pretty` for people. */
  log_format: 'json' | 'pretty';
  log_level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  /** Reload on changes to the config file and its included files (`--watch`). */
  watch: boolean;
  /** The daemon's API as people reach it (e.g. behind a proxy), without a trailing slash; notifications link to it. Null: no links. */
  public_url: string | null;
  /** Follow the container engine for jobs declared by `watchbell.*` labels of running containers (docs/containers.md). */
  docker_labels: boolean;
  /** Serve the dashboard at `/` and `/ui/...` (docs/dashboard.md). */
  ui: boolean;
  /** This daemon's name in a cluster (a PostgreSQL store); null: `<hostname>:<port>` (cluster/node-name.ts). */
  node: string | null;
  /** `{key: value}` describing this node, shown by GET /api/v1/nodes. */
  node_tags: Record<string, string>;
  /** Seconds between a cluster node's heartbeats. */
  heartbeat: number;
  /** Seconds a node stays alive after its last heartbeat; past it the node is dead to the others. */
  lease: number;
}

/** Every `daemon:` key's default; `data_dir` is resolved against the config file's folder. */
export const DAEMON_DEFAULTS: Readonly<DaemonSettings> = Object.freeze({
  listen: '127.0.0.1:8080',
  data_dir: './data',
  store: null,
  timezone: 'UTC',
  max_concurrency: 8,
  max_jobs: 10_000,
  max_connections: null,
  shutdown_grace: 30,
  kill_grace: 10,
  log_format: 'json',
  log_level: 'info',
  watch: false,
  public_url: null,
  docker_labels: false,
  ui: true,
  node: null,
  node_tags: {},
  heartbeat: 2,
  lease: 10,
});


export const DAEMON_SCHEMA: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  properties: {
    listen: { type: 'string', minLength: 1, maxLength: 4096 },
    data_dir: { type: 'string', minLength: 1, maxLength: 4096 },
    store: { type: ['string', 'null'], minLength: 1, maxLength: 4096 },
    timezone: { type: 'string', minLength: 1, maxLength: 64 },
    max_concurrency: { type: 'integer', minimum: 1, maximum: 10000 },
    max_jobs: { type: 'integer', minimum: 1, maximum: 1000000 },
    max_connections: { type: ['integer', 'null'], minimum: 1, maximum: 1000000 },
    shutdown_grace: { ...DURATION_SCHEMA },
    kill_grace: { ...DURATION_SCHEMA },
    log_format: { enum: ['json', 'pretty'] },
    log_level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] },
    watch: { type: 'boolean' },
    public_url: { type: ['string', 'null'], minLength: 1, maxLength: 2048 },
    docker_labels: { type: 'boolean' },
    ui: { type: 'boolean' },
    node: { type: ['string', 'null'], minLength: 1, maxLength: 200, pattern: '^[^\\s]+$' },
    node_tags: {
      type: 'object',
      maxProperties: 50,
      propertyNames: { minLength: 1, maxLength: 64 },
      additionalProperties: { type: 'string', maxLength: 256 },
    },
    heartbeat: { ...DURATION_SCHEMA },
    lease: { ...DURATION_SCHEMA },
  },
};

export const API_SCHEMA: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tokens: {
      type: 'array',
      maxItems: 100,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'token', 'scope'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 100 },
          token: { type: 'string', minLength: 1, maxLength: 4096 },
          scope: { enum: ['admin', 'read'] },
        },
      },
    },
    /** With tokens configured, `GET /metrics` needs one too, unless this is true (for a Prometheus without credentials). */
    metrics_public: { type: 'boolean' },
  },
};

/** What each `daemon:` key accepts, for messages. */
export const SETTING_EXPECTATIONS: Readonly<Record<string, string>> = {
  listen: 'HOST:PORT such as "127.0.0.1:8080"',
  shutdown_grace: 'a duration: integer seconds or a string such as "30s"',
  kill_grace: 'a duration: integer seconds or a string such as "10s"',
  max_concurrency: 'an integer from 1 to 10000',
  max_jobs: 'an integer from 1 to 1000000',
  max_connections: 'an integer from 1 to 1000000, or null for one computed from the open-file limit',
  timezone: 'an IANA time zone name such as "Europe/Berlin"',
  public_url: 'an http:// or https:// URL such as "https://cron.example.com"',
  node: 'a name without spaces of up to 200 characters, or null for <hostname>:<port>',
  node_tags: 'a mapping of names to strings, such as {zone: eu-1}',
  heartbeat: 'a duration: integer seconds or a string such as "2s"',
  lease: 'a duration longer than daemon.heartbeat: integer seconds or a string such as "10s"',
  store: 'a postgres:// URL such as "postgres://watchbell@db.example.com:5432/watchbell?schema=watchbell", or null for the embedded store',
};
