/** The daemon's parts are started in order and stopped in reverse (STYLE.md 8): each start records its stop here. */
import type { Logger } from 'pino';

/** Anything the daemon starts and must stop again. */
export interface Part {
  close(): Promise<void> | void;
}

/** Stops recorded in start order, run newest first; a stop that fails is logged and the next still runs. */
export class Parts {
  private readonly stops: Array<() => Promise<void> | void> = [];

  constructor(private readonly log: Logger) {}

  /** Records how to stop `part` (just started) and returns it. */
  add<T extends Part>(part: T): T {
    this.stops.push(() => part.close());
    return part;
  }

  /** Records a stop that is not a part's close(). */
  onStop(stop: () => Promise<void> | void): void {
    this.stops.push(stop);
  }

  /** Stops everything started so far, in reverse order. */
  async stopAll(): Promise<void> {
    while (this.stops.length) {
      const stop = this.stops.pop()!;
      await Promise.resolve()
        .then(stop)
        .catch((err) => this.log.error({ event: 'daemon.stop_error', err }, 'error while stopping'));
    }
  }
}
