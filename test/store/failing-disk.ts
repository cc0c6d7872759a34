/**
 * A disk that fails on purpose, for the Store fault contract: counts the store's writes and makes
 * them fail with ENOSPC from the Nth on (a disk that fills up) or at the Nth only (one bad write).
 * An implementation calls fault() before each write that takes space (LowdbStore: its `writeFault`
 * option; a database store: before each statement that changes data).
 */
export class FailingDisk {
  /** Writes asked for so far, failed ones included. */
  writes = 0;
  private failAt = Infinity;
  private once = false;
  private healed = false;
  private started = false;

  /** Counts (and fails) writes from now on: the writes of open() are not the workload's. */
  start(): void {
    this.started = true;
  }

  /** Fails every write from the `n`th (1-based) on, until heal(). */
  fillAt(n: number): void {
    this.failAt = n;
    this.once = false;
  }

  /** Fails the `n`th write only. */
  failOnlyAt(n: number): void {
    this.failAt = n;
    this.once = true;
  }

  /** Space is back: no write fails from now on. */
  heal(): void {
    this.healed = true;
  }

  /** The error the next write fails with, or undefined; counts the write. */
  readonly fault = (): Error | undefined => {
    if (!this.started) return undefined;
    this.writes++;
    if (this.healed || this.writes < this.failAt || (this.once && this.writes > this.failAt)) return undefined;
    return Object.assign(new Error('ENOSPC: no space left on device (injected)'), { code: 'ENOSPC', errno: -28 });
  };
}
