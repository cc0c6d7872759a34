/** The typed events the core emits; logs and metrics subscribe instead of being sprinkled through the code. */
import { EventEmitter } from 'node:events';
import type { Execution } from './execution.js';

export interface WatchbellEvents {
  /** A slot of a job fired (scheduled or caught up); firedAt - slot is the scheduling lateness. */
  'job:due': { jobId: string; slot: Date; firedAt: Date; trigger: 'schedule' | 'catch_up' };
  /** An active job was (re)scheduled: created, changed, resumed, loaded; nextRun null when it has no slot left. */
  'job:scheduled': { jobId: string; nextRun: Date | null };
  'execution:started': { execution: Execution };
  'execution:finished': { execution: Execution };
  'execution:skipped': { execution: Execution };
  'schedule:late': { jobId: string; slot: Date; lateMs: number };
  /** A slot missed while the daemon was down that will not run. */
  'schedule:missed': { jobId: string; slot: Date; reason: 'catch_up_none' | 'past_deadline' };
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
  'error': { where: string; error: unknown };
}

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
