/** The one slot computation, used both to fire jobs and to show `next_run`, so the two never disagree. */
import { parseSchedule, type ScheduleSpec } from '../jobs/schedule-spec.js';
import { sharedPatterns, type PatternCache } from './pattern-cache.js';

/** The first slot of `spec` strictly after `after`, read in `timezone`; null when there is none. */
export function nextSlot(spec: ScheduleSpec, timezone: string, after: Date, patterns: PatternCache = sharedPatterns): Date | null {
  switch (spec.kind) {
    case 'cron':
      // croner drops the milliseconds of `after` and returns a slot strictly after its whole second,
      // so a slot passed back in as `after` never yields itself again.
      return patterns.nextRun(spec.pattern, timezone, after);
    case 'every': {
      // Anchored to the Unix epoch, not to when the job was added, so slots survive restarts and
      // reloads unchanged and every daemon computes the same ones. Time zones do not apply.
      const period = spec.seconds * 1000;
      return new Date((Math.floor(after.getTime() / period) + 1) * period);
    }
    case 'once':
      return spec.at > after.getTime() ? new Date(spec.at) : null;
    case 'manual':
      return null;
  }
}

/** The next `n` slots of a schedule string after `after` (default now), for previews; throws ScheduleError on a bad schedule. */
export function nextRuns(schedule: string, timezone: string, n: number, after: Date = new Date(), patterns: PatternCache = sharedPatterns): Date[] {
  const spec = parseSchedule(schedule, timezone);
  // Held for the loop so that n steps reuse one Cron instead of building n throwaway ones.
  if (spec.kind === 'cron') patterns.acquire(spec.pattern, timezone);
  try {
    const runs: Date[] = [];
    let cursor: Date | null = after;
    while (runs.length < n && cursor !== null) {
      cursor = nextSlot(spec, timezone, cursor, patterns);
      if (cursor !== null) runs.push(cursor);
    }
    return runs;
  } finally {
    if (spec.kind === 'cron') patterns.release(spec.pattern, timezone);
  }
}
