/** A min-heap of (slot, job) with lazy deletion: the scheduler's one queue of upcoming slots. */

/** One queued slot. `generation` tells a live entry from one left behind by a reschedule or removal. */
export interface SlotEntry {
  readonly at: number;
  readonly jobId: string;
  readonly generation: number;
}

interface Bucket {
  /** Entries of one slot time in push order; those before `start` were popped already. */
  entries: SlotEntry[];
  start: number;
}

/**
 * At most one live entry per job. Rescheduling or removing a job only bumps its generation; the old
 * entry stays behind and is dropped when it comes up, so both cost O(log n) or O(1) instead of an
 * O(n) search.
 *
 * The binary heap orders distinct slot times, each with a bucket of its entries. Cron slots cluster
 * on whole seconds and minutes: 10,000 jobs on `* * * * * *` share one heap node, so taking a
 * due batch costs O(1) per job instead of a 14-level sift each, which measurably cut dispatch
 * lateness. Entries of one time come out first-in first-out.
 */
export class SlotQueue {
  private times: number[] = [];
  private readonly buckets = new Map<number, Bucket>();
  /** jobId -> generation of its live entry. A job absent here has no live entry. */
  private readonly live = new Map<string, number>();
  /**
   * One counter for all jobs, not one per job: a job removed and added again must never reuse a
   * generation that one of its stale entries still carries.
   */
  private nextGeneration = 1;
  /** Entries held in buckets, stale ones included. */
  private stored = 0;

  /** Number of jobs with a live entry. */
  get size(): number {
    return this.live.size;
  }

  /** Number of entries held, stale ones included (for tests and metrics). */
  get storedEntries(): number {
    return this.stored;
  }

  /** Queues `jobId` at `at` (epoch ms), replacing its previous entry if any. */
  push(jobId: string, at: number): void {
    const generation = this.nextGeneration++;
    this.live.set(jobId, generation);
    let bucket = this.buckets.get(at);
    if (bucket === undefined) {
      bucket = { entries: [], start: 0 };
      this.buckets.set(at, bucket);
      this.heapPush(at);
    }
    bucket.entries.push({ at, jobId, generation });
    this.stored++;
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
    for (;;) {
      const at = this.times[0];
      if (at === undefined) return undefined;
      const bucket = this.buckets.get(at)!;
      while (bucket.start < bucket.entries.length) {
        const entry = bucket.entries[bucket.start]!;
        if (this.isLive(entry)) return entry;
        bucket.start++;
        this.stored--;
      }
      this.buckets.delete(at);
      this.heapPop();
    }
  }

  /** Removes and returns the earliest live entry. */
  pop(): SlotEntry | undefined {
    const entry = this.peek();
    if (entry === undefined) return undefined;
    this.buckets.get(entry.at)!.start++;
    this.stored--;
    this.live.delete(entry.jobId);
    return entry;
  }

  /** Removes and returns every live entry with `at <= now`, earliest first. */
  popDue(now: number): SlotEntry[] {
    const due: SlotEntry[] = [];
    while (this.times.length > 0 && this.times[0]! <= now) {
      const at = this.heapPop();
      const bucket = this.buckets.get(at)!;
      this.buckets.delete(at);
      // A job's live entry is its latest push, so no entry of it can follow in this bucket.
      for (let i = bucket.start; i < bucket.entries.length; i++) {
        const entry = bucket.entries[i]!;
        if (!this.isLive(entry)) continue;
        this.live.delete(entry.jobId);
        due.push(entry);
      }
      this.stored -= bucket.entries.length - bucket.start;
    }
    return due;
  }

  /**
   * Live job ids in slot order, those of one slot in id order, without changing the queue. Only the
   * distinct times are sorted (cron slots cluster: 100,000 daily jobs on 1,000 expressions have 1,000),
   * so a first page of jobs by next run reads the few buckets it needs.
   */
  *inSlotOrder(): Generator<string, void, undefined> {
    for (const at of Float64Array.from(this.times).sort()) {
      const bucket = this.buckets.get(at);
      if (bucket === undefined) continue;
      const ids: string[] = [];
      for (let i = bucket.start; i < bucket.entries.length; i++) {
        const entry = bucket.entries[i]!;
        if (this.isLive(entry)) ids.push(entry.jobId);
      }
      yield* ids.sort();
    }
  }

  /** Removes every entry. */
  clear(): void {
    this.times = [];
    this.buckets.clear();
    this.live.clear();
    this.stored = 0;
  }

  private isLive(entry: SlotEntry): boolean {
    return this.live.get(entry.jobId) === entry.generation;
  }

  /**
   * Stale entries far in the future (a daily job rescheduled every few seconds by the API) would
   * otherwise never come up and pile up. Rebuilding costs O(n) and happens only when the queue has
   * doubled past its live size, so it stays O(1) amortised per operation.
   */
  private compactIfMostlyStale(): void {
    if (this.stored < 1024 || this.stored <= 2 * this.live.size) return;
    for (const [at, bucket] of this.buckets) {
      const kept = bucket.entries.slice(bucket.start).filter((entry) => this.isLive(entry));
      if (kept.length === 0) this.buckets.delete(at);
      else this.buckets.set(at, { entries: kept, start: 0 });
    }
    this.stored = this.live.size;
    this.times = [...this.buckets.keys()];
    for (let i = (this.times.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private heapPush(at: number): void {
    const heap = this.times;
    let index = heap.length;
    heap.push(at);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (heap[parent]! <= at) break;
      heap[index] = heap[parent]!;
      index = parent;
    }
    heap[index] = at;
  }

  private heapPop(): number {
    const heap = this.times;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftDown(index: number): void {
    const heap = this.times;
    const n = heap.length;
    const at = heap[index]!;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && heap[right]! < heap[left]! ? right : left;
      if (heap[child]! >= at) break;
      heap[index] = heap[child]!;
      index = child;
    }
    heap[index] = at;
  }
}
