/** A binary min-heap of (slot, job) with lazy deletion: the scheduler's one queue of upcoming slots. */

/** One queued slot. `generation` tells a live entry from one left behind by a reschedule or removal. */
export interface SlotEntry {
  readonly at: number;
  readonly jobId: string;
  readonly generation: number;
}

/**
 * At most one live entry per job. Rescheduling or removing a job only bumps its generation; the old
 * entry stays in the heap and is dropped when it reaches the top, so both are O(log n) or O(1)
 * instead of an O(n) search through the heap.
 */
export class SlotQueue {
  private heap: SlotEntry[] = [];
  /** jobId -> generation of its live entry. A job absent here has no live entry. */
  private readonly live = new Map<string, number>();
  /**
   * One counter for all jobs, not one per job: a job removed and added again must never reuse a
   * generation that one of its stale entries still carries. It also breaks ties between equal
   * slots in insertion order, so equal slots pop first-in first-out.
   */
  private nextGeneration = 1;

  /** Number of jobs with a live entry. */
  get size(): number {
    return this.live.size;
  }

  /** Number of entries in the heap, stale ones included (for tests and metrics). */
  get heapSize(): number {
    return this.heap.length;
  }

  /** Queues `jobId` at `at` (epoch ms), replacing its previous entry if any. */
  push(jobId: string, at: number): void {
    const generation = this.nextGeneration++;
    this.live.set(jobId, generation);
    this.heap.push({ at, jobId, generation });
    this.siftUp(this.heap.length - 1);
    this.compactIfMostlyStale();
  }

  /** Drops the live entry of `jobId`, if any. */
  delete(jobId: string): boolean {
    const had = this.live.delete(jobId);
    if (had) this.compactIfMostlyStale();
    return had;
  }

  /** True when `jobId` has a live entry. */
  has(jobId: string): boolean {
    return this.live.has(jobId);
  }

  /** The earliest live entry, without removing it. */
  peek(): SlotEntry | undefined {
    this.dropStaleTop();
    return this.heap[0];
  }

  /** Removes and returns the earliest live entry. */
  pop(): SlotEntry | undefined {
    this.dropStaleTop();
    const top = this.heap[0];
    if (top === undefined) return undefined;
    this.removeTop();
    this.live.delete(top.jobId);
    return top;
  }

  /** Removes and returns every live entry with `at <= now`, earliest first. */
  popDue(now: number): SlotEntry[] {
    const due: SlotEntry[] = [];
    for (let top = this.peek(); top !== undefined && top.at <= now; top = this.peek()) {
      due.push(this.pop()!);
    }
    return due;
  }

  /** Removes every entry. */
  clear(): void {
    this.heap = [];
    this.live.clear();
  }

  private isLive(entry: SlotEntry): boolean {
    return this.live.get(entry.jobId) === entry.generation;
  }

  private dropStaleTop(): void {
    while (this.heap.length > 0 && !this.isLive(this.heap[0]!)) this.removeTop();
  }

  /**
   * Stale entries far in the future (a daily job rescheduled every few seconds by the API) would
   * otherwise never reach the top and pile up. Rebuilding costs O(n) and happens only when the heap
   * has doubled past its live size, so it stays O(1) amortised per operation.
   */
  private compactIfMostlyStale(): void {
    if (this.heap.length < 1024 || this.heap.length <= 2 * this.live.size) return;
    this.heap = this.heap.filter((entry) => this.isLive(entry));
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private removeTop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
  }

  private less(a: SlotEntry, b: SlotEntry): boolean {
    return a.at < b.at || (a.at === b.at && a.generation < b.generation);
  }

  private siftUp(index: number): void {
    const heap = this.heap;
    const entry = heap[index]!;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.less(entry, heap[parent]!)) break;
      heap[index] = heap[parent]!;
      index = parent;
    }
    heap[index] = entry;
  }

  private siftDown(index: number): void {
    const heap = this.heap;
    const n = heap.length;
    const entry = heap[index]!;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.less(heap[right]!, heap[left]!) ? right : left;
      if (!this.less(heap[child]!, entry)) break;
      heap[index] = heap[child]!;
      index = child;
    }
    heap[index] = entry;
  }
}
