/** The typed events the core emits; logs and metrics subscribe instead of being sprinkled through the code. */
import { EventEmitter } from 'node:events';
import type { Execution, StepRecord } from './execution.js';
import type { NotifyEvent } from './notify-rule.js';

export interface WatchbellEvents {
  /** A slot of a job fired (scheduled or caught up); firedAt - slot is the scheduling lateness. */
  'job:due': { jobId: string; slot: Date; firedAt: Date; trigger: 'schedule' | 'catch_up' };
  /** An active job was (re)scheduled: created, changed, resumed, loaded; nextRun null when it has no slot left. */
  /** `bulk`: one of many at start or on a config reload (logged at debug, so 100,000 jobs are not 100,000 info lines). */
  'job:scheduled': { jobId: string; nextRun: Date | null; bulk?: boolean };
  /** An execution waits for a free slot (daemon.max_concurrency); `execution:started` follows when it gets one. */
  'execution:queued': { execution: Execution };
  'execution:started': { execution: Execution };
  'execution:finished': { execution: Execution };
  'execution:skipped': { execution: Execution };
  /** An execution is held at a wait step (`waiting`) until advanced, cancelled or timed out. */
  'execution:waiting': { execution: Execution };
  /** One step of a multi-step execution ended (success, failure or cancelled). */
  'step:finished': { jobId: string; executionId: string; step: StepRecord };
  /** An API job was created, changed, deleted, paused or resumed (config jobs change through `config:reloaded`). */
  'job:changed': { jobId: string; change: JobChange };
  'schedule:late': { jobId: string; slot: Date; lateMs: number };
  /** The wall clock moved against the monotonic clock by stepMs (negative: set back); every job was re-planned. */
  'clock:stepped': { stepMs: number; now: Date };
  /**
   * A slot that will not run: missed while the daemon was down (catch_up none, past starting_deadline),
   * or due while its start could not be recorded (the store unavailable; `error` says why).
   */
  'schedule:missed': { jobId: string; slot: Date; reason: 'catch_up_none' | 'past_deadline' | 'store_unavailable'; error?: string };
  /** A reload (SIGHUP, POST /api/v1/config/reload, or a change seen by --watch) applied the config. */
  'config:reloaded': {
    file: string;
    trigger: ReloadTrigger;
    jobs: number;
    added: string[];
    changed: string[];
    removed: string[];
    /** `daemon:` keys that changed in the file; they take effect at the next restart. */
    restartNeeded: string[];
  };
  /** A reload found problems (each `FILE:LINE:COL: message`) and changed nothing. */
  'config:reload_failed': { file: string; trigger: ReloadTrigger; errors: string[] };
  /** Worth telling the config's author, not an error (each `FILE:LINE:COL: message`). */
  'config:warning': { file: string; warning: string };
  /** One delivery attempt of a notification, or one dropped without an attempt (queue full, notifier gone, shutdown). */
  'notify:attempt': NotifyAttempt;
  /** The jobs declared by container labels changed (daemon.docker_labels); `refused` clash with config or API jobs. */
  'labels:applied': { jobs: number; added: string[]; changed: string[]; removed: string[]; refused: string[] };
  /** A container label that could not become a job (each message names the container and the label). */
  'labels:invalid': { container: string; label: string; message: string };
  /** The label source's view of the engine: `connected` (and synced), or `lost` with a retry in `retryInMs`. */
  'labels:engine': { state: 'connected' | 'lost'; engine: string; error: string | null; retryInMs: number | null };
  'error': { where: string; error: unknown };
}

/** What became of one attempt to deliver a notification; `error` never holds a secret (URLs, passwords are masked). */
export interface NotifyAttempt {
  notifier: string;
  /** `webhook`, `slack` (a webhook with `format: slack`) or `email`; null for a notifier the config does not declare. */
  kind: 'webhook' | 'slack' | 'email' | null;
  event: NotifyEvent;
  jobId: string;
  executionId: string;
  /** 1 for the first attempt; 0 for a notification dropped before any. */
  attempt: number;
  /** `sent`; `retry`: failed, another attempt follows in `retryInMs`; `failed`: failed, given up; `dropped`: never tried. */
  outcome: 'sent' | 'retry' | 'failed' | 'dropped';
  durationMs: number;
  /** The HTTP status, or the SMTP reply code, when there was one. */
  status: number | null;
  /** A stable code for why it failed (`HTTP_STATUS`, `NETWORK`, `TIMEOUT`, `SMTP_REJECTED`, `QUEUE_FULL`, ...), null when sent. */
  code: string | null;
  error: string | null;
  retryInMs: number | null;
}

/** What happened to a job, as `job:changed` and the live events (`job.created`, ...) tell it. */
export type JobChange = 'created' | 'changed' | 'deleted' | 'paused' | 'resumed';

/** What started a config reload. */
export type ReloadTrigger = 'signal' | 'api' | 'watch';

/** An emitter whose listeners cannot break the emitter: a throwing listener is reported, not propagated. */
export class Events {
  private readonly emitter = new EventEmitter();

  on<K extends keyof WatchbellEvents>(event: K, listener: (payload: WatchbellEvents[K]) => void): () => void {
    this.emitter.on(event, listener);
    return () => this.emitter.off(event, listener);
  }

  emit<K extends keyof WatchbellEvents>(event: K, payload: WatchbellEvents[K]): void {
    for (const listener of this.emitter.listeners(event)) {
      try {
        (listener as (p: WatchbellEvents[K]) => void)(payload);
      } catch (error) {
        if (event !== 'error') this.emit('error', { where: `listener of ${event}`, error });
      }
    }
  }
}
