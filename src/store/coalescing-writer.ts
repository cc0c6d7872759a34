/**
 * Serializes the writes of one file and coalesces those that arrive while one runs into a single
 * next write. lowdb's writer (steno) coalesces too, but its JSONFile serializes the data on every
 * write() call: 100 changes during one write would mean 100 JSON.stringify of the whole file.
 * `flush` serializes the data as it is when it starts, so a write() resolves once a version that
 * includes every change made before the call is on disk; steno writes a temp file and renames it
 * over the old one, so a crash at any moment leaves the old or the new file, never a torn one.
 */
export class CoalescingWriter {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(private readonly flush: () => Promise<void>) {}

  /** Resolves once a version with every change made before this call is on disk. */
  write(): Promise<void> {
    // The queued write has not started, so it will still see this change.
    if (this.queued) return this.queued;
    if (!this.running) return this.start();
    const queued = this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.start();
      });
    this.queued = queued;
    return queued;
  }

  private start(): Promise<void> {
    const running = this.flush();
    this.running = running;
    const done = () => {
      if (this.running === running) this.running = undefined;
    };
    running.then(done, done);
    return running;
  }
}
