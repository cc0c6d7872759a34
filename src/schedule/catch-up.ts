/**
 * Catch-up after downtime: which slot a job missed while the daemon was not running. Only the
 * newest missed slot matters: a job down for a week with `catch_up: latest` runs once, not 10,080 times.
 */
import type { ScheduleSpec } from '../jobs/schedule-spec.js';
import { sharedPatterns, type PatternCache } from './pattern-cache.js';

/** The newest slot of `spec` in (since, now], or null when none was missed. */
export function latestMissedSlot(
  spec: ScheduleSpec,
  timezone: string,
  since: Date,
  now: Date,
  patterns: PatternCache = sharedPatterns,
): Date | null {
  let slot: Date | null;
  switch (spec.kind) {
    case 'cron':
      // croner leaves out a slot exactly at its reference; one millisecond later it is included.
      slot = patterns.previousRun(spec.pattern, timezone, new Date(now.getTime() + 1));
      break;
    case 'every': {
      const period = spec.seconds * 1000;
      slot = new Date(Math.floor(now.getTime() / period) * period);
      break;
    }
    case 'once':
      slot = spec.at <= now.getTime() ? new Date(spec.at) : null;
      break;
    case 'manual':
      slot = null;
      break;
  }
  return slot !== null && slot.getTime() > since.getTime() ? slot : null;
}

export type CatchUpDecision =
  | { action: 'none' }
  /** Run it now, for `slot`. */
  | { action: 'run'; slot: Date }
  /** A slot was missed but is not run: `catch_up: none`, or older than `starting_deadline`. */
  | { action: 'skip'; slot: Date; reason: 'catch_up_none' | 'past_deadline' };

/** What to do at start for a job that may have missed slots while the daemon was down. */
export function catchUpDecision(
  job: { catch_up: 'none' | 'latest'; starting_deadline: number; timezone: string },
  spec: ScheduleSpec,
  since: Date,
  now: Date,
  patterns: PatternCache = sharedPatterns,
): CatchUpDecision {
  const slot = latestMissedSlot(spec, job.timezone, since, now, patterns);
  if (!slot) return { action: 'none' };
  if (job.catch_up === 'none') return { action: 'skip', slot, reason: 'catch_up_none' };
  if (now.getTime() - slot.getTime() >= job.starting_deadline * 1000) return { action: 'skip', slot, reason: 'past_deadline' };
  return { action: 'run', slot };
}
