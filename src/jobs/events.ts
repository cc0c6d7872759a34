/** The typed events the core emits; logs and metrics subscribe instead of being sprinkled through the code. */
import { EventEmitter } from 'node:events';
import type { Execution } from './execution.js';

export interface WatchbellEvents {
  'job:due': { jobId: string; slot: Date; firedAt: Date };
  'execution:started': { execution: Execution };
  'execution:finished': { execution: Execution };
  'execution:skipped': { execution: Execution };
  'schedule:late': { jobId: string; slot: Date; lateMs: number };
  /** A slot missed while the daemon was down that will not run. */
  'schedule:missed': { jobId: string; slot: Date; reason: 'catch_up_none' | 'past_deadline' };
  'config:reloaded': { file: string; jobs: number };
  'error': { where: string; error: unknown };
}

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
