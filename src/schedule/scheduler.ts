/** One timer over one queue of (next slot, job): fires due jobs and schedules their following slot. */
import type { Events } from '../jobs/events.js';
import { parseSchedule, type ScheduleSpec } from '../jobs/schedule-spec.js';
import { latestMissedSlot } from './catch-up.js';
import { isFixedTime } from './fixed-time.js';
import { nextSlot } from './next-slot.js';
import { sharedPatterns, type PatternCache } from './pattern-cache.js';
import { SlotQueue } from './slot-queue.js';

/** What the scheduler needs to know about a job. */
export interface SchedulableJob {
  readonly id: string;
  readonly schedule: string;
  readonly timezone: string;
}

export interface SchedulerOptions {
  /** Called once per job and slot when the slot is due, with the slot (not the fire time). Should return quickly. */
  onDue: (jobId: string, slot: Date) => void;
  /** Wall clock in epoch ms; default Date.now. */
  now?: () => number;
  /**
   * A monotonic clock in ms (default performance.now) to notice wall-clock steps against. With a `now` of
   * its own and no `monotonic`, steps are not watched for (a test's hand-set clock is all steps).
   */
  monotonic?: () => number;
  /** Receives 'schedule:late', 'clock:stepped' and 'error'. */
  events?: Events;
  /** Shared Crons; default the process-wide cache the API also reads. */
  patterns?: PatternCache;
  /** Longest single sleep, default 60 s (see MAX_SLEEP_MS). */
  maxSleepMs?: number;
  /** At most this many fired jobs get their next slot per event-loop turn, default 1,000. */
  chunkSize?: number;
}

/**
 * The longest we sleep before looking at the clock again. setTimeout rejects delays of 2^31 ms or
 * more (it fires at once instead), and it measures a monotonic clock while slots are wall-clock
 * times: after the wall clock is set forward or back, a long sleep would wake at the wrong time.
 * Waking at least once a minute bounds both problems.
 */
const MAX_SLEEP_MS = 60_000;
/** A fire later than this after its slot is reported as 'schedule:late'. */
const LATE_MS = 1_000;
/**
 * How often the wall clock is compared with the monotonic clock, and by how much they must have moved
 * apart to count as a step. Both clocks advance together through a SIGSTOP or a blocked loop; NTP's slew
 * is at most 0.5 ms/s. Suspend to RAM stops the monotonic clock and so reads as a step forward, which is
 * handled as one.
 */
const CLOCK_CHECK_MS = 1_000;
const CLOCK_STEP_MS = 1_000;
/**
 * After a batch fires, next slots are computed in event-loop turns of at most CHUNK_SIZE jobs and
 * about CHUNK_BUDGET_MS: croner takes 75-500 us per next slot in a time zone (Intl formatting), so
 * 1,000 distinct expressions due at once would otherwise hold the loop for half a second.
 */
const CHUNK_SIZE = 1_000;
const CHUNK_BUDGET_MS = 10;

interface JobState {
  readonly id: string;
  readonly timezone: string;
  readonly spec: ScheduleSpec;
  /** Epoch ms of the queued slot; null when there is none or while it is being recomputed. */
  next: number | null;
  /** Set between firing and recomputing: the instant to compute the next slot from. */
  resumeFrom: number | null;
  /** Epoch ms of the last slot fired, so that a step back does not rerun a fixed-time job (see onClockStep). */
  lastFired: number | null;
}

/** Fires jobs at their cron, `@every` or one-shot slots with a single timer, however many jobs there are. */
export class Scheduler {
  private readonly onDue: (jobId: string, slot: Date) => void;
  private readonly now: () => number;
  private readonly monotonic: (() => number) | undefined;
  private readonly events: Events | undefined;
  private readonly patterns: PatternCache;
  private readonly maxSleepMs: number;
  private readonly chunkSize: number;

  private readonly jobs = new Map<string, JobState>();
  private readonly queue = new SlotQueue();
  /** Jobs fired but not yet given their next slot; pending[pendingStart..] still need it. */
  private pending: JobState[] = [];
  private pendingStart = 0;

  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private immediate: NodeJS.Immediate | undefined;
  private clockTimer: NodeJS.Timeout | undefined;
  /** Wall and monotonic readings at the last clock check. */
  private clockBase = { wall: 0, mono: 0 };

  constructor(options: SchedulerOptions) {
    this.onDue = options.onDue;
    this.now = options.now ?? Date.now;
    this.monotonic = options.monotonic ?? (options.now ? undefined : () => performance.now());
    this.events = options.events;
    this.patterns = options.patterns ?? sharedPatterns;
    this.maxSleepMs = options.maxSleepMs ?? MAX_SLEEP_MS;
    this.chunkSize = Math.max(1, options.chunkSize ?? CHUNK_SIZE);
  }

  /** Number of jobs known, with or without a next slot. */
  get size(): number {
    return this.jobs.size;
  }

  /** True when the job is known to the scheduler (it may still have no next slot). */
  has(jobId: string): boolean {
    return this.jobs.has(jobId);
  }

  /**
   * (Re)schedules a job at its first slot after `after` (default now) and returns that slot, or null
   * when there is none (a past one-shot). Replaces any earlier entry, so the old slot never fires.
   * A slot already past (an `after` in the past) fires at the next wake-up.
   * Throws ScheduleError on a bad schedule, leaving the job's current schedule untouched.
   */
  set(job: SchedulableJob, after?: Date): Date | null {
    const spec = this.parse(job);
    // Acquire before releasing the old pattern, so a job keeping its expression keeps the same Cron.
    if (spec.kind === 'cron') this.patterns.acquire(spec.pattern, job.timezone);
    const old = this.jobs.get(job.id);
    if (old) this.releasePattern(old);

    const state: JobState = { id: job.id, timezone: job.timezone, spec, next: null, resumeFrom: null, lastFired: old?.lastFired ?? null };
    this.jobs.set(job.id, state);
    const slot = this.computeNext(state, after ?? new Date(this.now()));
    this.enqueue(state, slot);
    return slot;
  }

  /** Forgets a job; its queued slot will not fire. */
  remove(jobId: string): void {
    const state = this.jobs.get(jobId);
    if (!state) return;
    this.jobs.delete(jobId);
    this.queue.delete(jobId);
    this.releasePattern(state);
  }

  /** The job's next slot, or null when it has none or is unknown. */
  nextRun(jobId: string): Date | null {
    const ms = this.nextRunMs(jobId);
    return ms === null ? null : new Date(ms);
  }

  /**
   * Jobs with a next slot, soonest first (ties in id order). Jobs fired and still waiting for their next
   * slot get it first, so none is missing.
   */
  byNextRun(): Iterable<string> {
    while (this.pendingStart < this.pending.length) this.reschedule(this.pending[this.pendingStart++]!);
    return this.queue.inSlotOrder();
  }

  /** nextRun() as epoch ms, without a Date: a sort by next run reads 100,000 of them per request. */
  nextRunMs(jobId: string): number | null {
    const state = this.jobs.get(jobId);
    if (!state) return null;
    // Fired and waiting for its turn in the chunked recomputation: answer now rather than null.
    if (state.resumeFrom !== null) this.reschedule(state);
    return state.next;
  }

  /** Starts firing. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.monotonic) {
      this.clockBase = { wall: this.now(), mono: this.monotonic() };
      // Unref'd: the watch alone must not keep a process alive that has nothing else to do.
      this.clockTimer = setInterval(this.checkClock, CLOCK_CHECK_MS).unref();
    }
    this.drainPending();
    this.arm();
  }

  /** Stops firing and releases the timer, so the process can exit. Idempotent; jobs stay known. */
  stop(): void {
    this.running = false;
    clearInterval(this.clockTimer);
    this.clockTimer = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
  }

  /**
   * parseSchedule validates by building a throwaway croner Cron (~60 us and 80 KB of garbage), which
   * made loading 100,000 jobs take seconds. An expression some job already holds in the cache was
   * parsed as cron before, and whitespace (all the cache key ignores) cannot change what kind of
   * schedule a string is, so it skips the check.
   */
  private parse(job: SchedulableJob): ScheduleSpec {
    if (this.patterns.holds(job.schedule, job.timezone)) return { kind: 'cron', pattern: job.schedule.trim() };
    return parseSchedule(job.schedule, job.timezone);
  }

  private computeNext(state: JobState, after: Date): Date | null {
    return nextSlot(state.spec, state.timezone, after, this.patterns);
  }

  private enqueue(state: JobState, slot: Date | null): void {
    state.next = slot === null ? null : slot.getTime();
    if (state.next === null) this.queue.delete(state.id);
    else this.queue.push(state.id, state.next);
    this.arm();
  }

  private releasePattern(state: JobState): void {
    if (state.spec.kind === 'cron') this.patterns.release(state.spec.pattern, state.timezone);
  }

  /** Makes sure a timer will wake us no later than the earliest slot (or the sleep cap). */
  private arm(): void {
    if (!this.running) return;
    const head = this.queue.peek();
    if (head === undefined) return;
    const now = this.now();
    const wakeAt = Math.min(head.at, now + this.maxSleepMs);
    // An armed timer that wakes no later is kept: adding 100,000 jobs must not re-create it 100,000
    // times. If its job was removed meanwhile it wakes for nothing and re-arms, which is harmless.
    if (this.timer !== undefined && this.timerAt <= wakeAt) return;
    clearTimeout(this.timer);
    this.timerAt = wakeAt;
    this.timer = setTimeout(this.onTimer, Math.max(0, wakeAt - now));
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    // A step seen here first re-arms by itself; this wake-up then has nothing more to do.
    if (this.checkClock()) return;
    const now = this.now();
    // A timer can wake before the slot by the wall clock (libuv rounds to whole ms, and the wall
    // clock may have been set back): then nothing is due yet and arm() just sleeps again.
    const due = this.queue.popDue(now);

    // Every due job is taken off the queue before any onDue runs and before any next slot is
    // computed: firing is what must happen on time, and a job off the queue cannot fire twice.
    const fired: Array<{ entry: (typeof due)[number]; slot: number }> = [];
    const budgetEnd = performance.now() + CHUNK_BUDGET_MS;
    for (const entry of due) {
      const state = this.jobs.get(entry.jobId)!;
      // After a late wake-up (SIGSTOP, suspend, clock set forward, a blocked event loop) a job fires
      // once, never in a burst for every slot it missed, and that once is for the latest slot it
      // missed: the run it stands for is the one that should be running now, and it is the slot a
      // restart's catch-up (`catch_up: latest`) would run too. That costs a previousRun per late job
      // (75-500 us for a cron): past CHUNK_BUDGET_MS the rest stay queued for the next turn, so 10,000
      // late jobs do not hold the loop for seconds.
      let slot = entry.at;
      if (now - entry.at > LATE_MS) {
        if (performance.now() > budgetEnd) {
          // Still queued (state.next unchanged): arm() below wakes again at once.
          this.queue.push(entry.jobId, entry.at);
          continue;
        }
        slot = this.latestSlot(state, entry.at, now);
      }
      state.next = null;
      state.resumeFrom = Math.max(slot, now);
      state.lastFired = slot;
      this.pending.push(state);
      fired.push({ entry, slot });
    }
    for (const { entry, slot } of fired) {
      // Lateness is that of the oldest slot missed: the one the scheduler failed to fire on time.
      const lateMs = now - entry.at;
      if (lateMs > LATE_MS) this.events?.emit('schedule:late', { jobId: entry.jobId, slot: new Date(entry.at), lateMs });
      try {
        this.onDue(entry.jobId, new Date(slot));
      } catch (error) {
        this.reportError(`onDue of job ${entry.jobId}`, error);
      }
    }
    if (this.immediate === undefined) this.drainPending();
    this.arm();
  };

  /**
   * Computes next slots for fired jobs, a chunk per event-loop turn, so that 10,000 jobs due at once
   * do not block timers, I/O and the API for the whole computation. A job waiting here has no queue
   * entry, so it cannot fire again; nextRun() computes its slot on demand if asked meanwhile.
   */
  private readonly drainPending = (): void => {
    this.immediate = undefined;
    if (this.pendingStart >= this.pending.length) return;
    const deadline = performance.now() + CHUNK_BUDGET_MS;
    const end = Math.min(this.pendingStart + this.chunkSize, this.pending.length);
    // At least one job per turn, so the drain always progresses.
    do this.reschedule(this.pending[this.pendingStart++]!);
    while (this.pendingStart < end && performance.now() < deadline);
    if (this.pendingStart >= this.pending.length) {
      this.pending = [];
      this.pendingStart = 0;
    } else if (this.running) {
      this.immediate = setImmediate(this.drainPending);
    }
  };

  /** The newest slot of the job in [oldest, now]; `oldest` when none is newer (or on error). */
  private latestSlot(state: JobState, oldest: number, now: number): number {
    try {
      return latestMissedSlot(state.spec, state.timezone, new Date(oldest), new Date(now), this.patterns)?.getTime() ?? oldest;
    } catch (error) {
      this.reportError(`latest slot of job ${state.id}`, error);
      return oldest;
    }
  }

  /**
   * Compares the wall clock with the monotonic one; on a step, says so and re-plans. True when it
   * found a step. Runs every CLOCK_CHECK_MS and at every wake-up.
   */
  private readonly checkClock = (): boolean => {
    if (!this.monotonic || !this.running) return false;
    const wall = this.now();
    const mono = this.monotonic();
    const stepMs = wall - this.clockBase.wall - (mono - this.clockBase.mono);
    this.clockBase = { wall, mono };
    if (Math.abs(stepMs) < CLOCK_STEP_MS) return false;
    this.events?.emit('clock:stepped', { stepMs, now: new Date(wall) });
    this.onClockStep(wall, stepMs);
    return true;
  };

  /**
   * After a step forward, queued slots now in the past fire at once, one run each (the timer is re-armed
   * for them); later slots stay right. After a step back, every queued slot lies up to the step's size
   * too far ahead, so every job gets its next slot anew from the new time, through the chunked drain:
   * wildcard jobs run on at the new time. A fixed-time job (minute and hour fields without `*`, as
   * Vixie cron defines it) is not run again for a slot at or before the last one it fired.
   */
  private onClockStep(now: number, stepMs: number): void {
    if (stepMs < 0) {
      for (const state of this.jobs.values()) {
        if (state.next === null && state.resumeFrom === null) continue;
        const queued = state.resumeFrom === null;
        let from = now;
        if (state.lastFired !== null && state.spec.kind === 'cron' && isFixedTime(state.spec.pattern)) from = Math.max(now, state.lastFired);
        state.resumeFrom = from;
        if (queued) {
          state.next = null;
          this.queue.delete(state.id);
          this.pending.push(state);
        }
      }
      if (this.immediate === undefined) this.drainPending();
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.arm();
  }

  /** Gives a fired job its next slot, unless it was rescheduled or removed since it fired. */
  private reschedule(state: JobState): void {
    if (state.resumeFrom === null || this.jobs.get(state.id) !== state) return;
    const from = new Date(state.resumeFrom);
    state.resumeFrom = null;
    let slot: Date | null = null;
    try {
      slot = this.computeNext(state, from);
    } catch (error) {
      this.reportError(`next slot of job ${state.id}`, error);
    }
    this.enqueue(state, slot);
  }

  private reportError(where: string, error: unknown): void {
    if (this.events) this.events.emit('error', { where, error });
    else console.error(`watchbell scheduler: ${where} failed:`, error);
  }
}
