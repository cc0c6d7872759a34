/**
 * Runs queued work a slice at a time, one slice per turn of the event loop. Ten thousand jobs due in
 * the same second each start a chain of promises (policy check, store write, events); run at once,
 * those chains hold the loop for ~0.4 s and every API request waits behind them. In slices, requests
 * are answered between two of them.
 */
export class TurnSlicer {
  private readonly queue: Array<() => void> = [];
  private head = 0;
  private scheduled = false;

  /** `sliceSize`: tasks run per turn. `onError`: where a throwing task is reported (the rest still run). */
  constructor(
    private readonly sliceSize: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Queues a task; it runs in a later turn, in order. */
  push(task: () => void): void {
    this.queue.push(task);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.runSlice());
    }
  }

  private runSlice(): void {
    this.scheduled = false;
    const end = Math.min(this.queue.length, this.head + this.sliceSize);
    while (this.head < end) {
      const task = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as () => void;
      try {
        task();
      } catch (err) {
        this.onError(err);
      }
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else {
      this.scheduled = true;
      setImmediate(() => this.runSlice());
    }
  }
}
