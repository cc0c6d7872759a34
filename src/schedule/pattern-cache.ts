/** Shared croner patterns: one paused `Cron` per (expression, time zone), used only to compute slots. */
import { Cron } from 'croner';
import { cronZone } from '../jobs/cron-zone.js';

/**
 * A croner `Cron` holds about 80 KB of heap, so 100,000 jobs over 1,000 distinct expressions must
 * share 1,000 of them. They are created paused and without a callback, so croner never arms a timer
 * of its own: our scheduler owns the only timer.
 */
export class PatternCache {
  private readonly entries = new Map<string, Entry>();

  /** Number of distinct (expression, time zone) pairs held. */
  get size(): number {
    return this.entries.size;
  }

  /** Counts one more user of (pattern, timezone), creating its Cron on first use. Throws on a bad pattern. */
  acquire(pattern: string, timezone: string): void {
    const key = keyOf(pattern, timezone);
    const entry = this.entries.get(key);
    if (entry) entry.refs++;
    else this.entries.set(key, { cron: createCron(pattern, timezone), refs: 1, memoSecond: NaN, memoNext: null, memoBefore: NaN, memoPrevious: null });
  }

  /** Counts one user fewer; the Cron is dropped when nobody uses it any more. */
  release(pattern: string, timezone: string): void {
    const key = keyOf(pattern, timezone);
    const entry = this.entries.get(key);
    if (entry && --entry.refs <= 0) this.entries.delete(key);
  }

  /**
   * croner's next slot strictly after `after`. A pattern nobody holds gets a throwaway Cron, not
   * cached, so previews of arbitrary expressions through the API cannot grow the heap.
   */
  nextRun(pattern: string, timezone: string, after: Date): Date | null {
    const entry = this.entries.get(keyOf(pattern, timezone));
    if (!entry) return createCron(pattern, timezone).nextRun(after);
    // In a time zone croner spends ~75 us per call in Intl formatting, and a batch of due jobs all
    // ask from the same second: 10,000 jobs on one expression would cost 0.75 s per batch. croner
    // ignores milliseconds, so the answer depends only on the whole second and can be remembered.
    const second = Math.floor(after.getTime() / 1000);
    if (entry.memoSecond !== second) {
      entry.memoNext = entry.cron.nextRun(after)?.getTime() ?? null;
      entry.memoSecond = second;
    }
    return entry.memoNext === null ? null : new Date(entry.memoNext);
  }

  /** croner's newest slot strictly before `before` (for catch-up after downtime), or null. */
  previousRun(pattern: string, timezone: string, before: Date): Date | null {
    const entry = this.entries.get(keyOf(pattern, timezone));
    if (!entry) return createCron(pattern, timezone).previousRuns(1, before)[0] ?? null;
    // Catch-up at start asks every job with the same `before` (~100 us a call): once per pattern is enough.
    if (entry.memoBefore !== before.getTime()) {
      entry.memoPrevious = entry.cron.previousRuns(1, before)[0]?.getTime() ?? null;
      entry.memoBefore = before.getTime();
    }
    return entry.memoPrevious === null ? null : new Date(entry.memoPrevious);
  }

  /** True when some job holds (pattern, timezone), which proves it a valid cron expression. */
  holds(pattern: string, timezone: string): boolean {
    return this.entries.has(keyOf(pattern, timezone));
  }

  /** Users of (pattern, timezone), 0 when not held (for tests). */
  refs(pattern: string, timezone: string): number {
    return this.entries.get(keyOf(pattern, timezone))?.refs ?? 0;
  }
}

interface Entry {
  readonly cron: Cron;
  refs: number;
  /** The whole second (epoch s) of the last `after` asked about, and croner's answer (epoch ms). */
  memoSecond: number;
  memoNext: number | null;
  /** The last `before` asked of previousRun (epoch ms) and its answer. */
  memoBefore: number;
  memoPrevious: number | null;
}

/** The cache the scheduler and the API share by default, so `next_run` reuses the scheduler's Crons. */
export const sharedPatterns = new PatternCache();

function createCron(pattern: string, timezone: string): Cron {
  return shareYearTable(new Cron(pattern, { paused: true, ...cronZone(timezone), mode: '5-or-6-parts' }));
}

/**
 * croner 11 gives every pattern its own 10,000-entry `year` table (~80 KB of heap), all ones for
 * expressions without a year field, which are all we accept. Those identical tables are 80 MB for
 * 1,000 distinct expressions, more than everything else 100,000 jobs hold; so each is swapped for one
 * shared, frozen copy. This reaches into croner's internals: when their shape is not the one
 * expected (another croner version), the Cron is left as it is, and test/schedule/pattern-cache
 * notices that the saving is gone.
 */
function shareYearTable(cron: Cron): Cron {
  const p = (cron as unknown as { _states?: { pattern?: { year?: unknown; starYear?: unknown } } })._states?.pattern;
  const year = p?.year;
  if (!p || p.starYear !== true || !Array.isArray(year)) return cron;
  if (sharedYears === undefined) {
    if (!year.every((v) => v === 1)) return cron;
    sharedYears = Object.freeze([...year]) as number[];
  }
  // starYear says every year matches; the ends and the middle are checked rather than all 10,000 entries.
  const n = sharedYears.length;
  if (year.length === n && year[0] === 1 && year[n >> 1] === 1 && year[n - 1] === 1) p.year = sharedYears;
  return cron;
}

let sharedYears: number[] | undefined;

// Whitespace is collapsed so `0  0 * * *` shares the Cron of `0 0 * * *`; NUL cannot occur in an
// expression or a zone name, so the key is unambiguous.
function keyOf(pattern: string, timezone: string): string {
  const normal = SINGLE_SPACED.test(pattern) ? pattern : pattern.trim().split(/\s+/).join(' ');
  return `${timezone}\u0000${normal}`;
}

const SINGLE_SPACED = /^\S+(?: \S+)*$/;
