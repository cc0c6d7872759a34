/** Reads a `schedule` string into the kind of timetable it describes; croner does the calendar math. */
import { Cron } from 'croner';
import { cronZone, isUtcName } from './cron-zone.js';
import { parseDuration } from './duration.js';

export type ScheduleSpec =
  /** 5- or 6-field cron (seconds first when 6) or an `@daily`-style macro. */
  | { kind: 'cron'; pattern: string }
  /** `@every 90s`: slots at whole multiples of `seconds` since the Unix epoch. */
  | { kind: 'every'; seconds: number }
  /** An ISO-8601 instant: one run, then the job is `completed`. */
  | { kind: 'once'; at: number }
  /** `@manual`: never due; the job runs only by run-now, chains or restart. */
  | { kind: 'manual' };

const MACROS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/;

/** Thrown by parseSchedule with a message that says what was expected. */
export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
}

/**
 * Parses and checks a schedule in a time zone. Throws ScheduleError naming the problem,
 * e.g. `"*\/0 * * * *" is not a cron expression: illegal stepping: 0`.
 */
export function parseSchedule(schedule: string, timezone: string): ScheduleSpec {
  if (/[^ \t\S]|[\x00-\x1f\x7f-\x9f]/.test(schedule.replace(/\t/g, ' '))) {
    throw new ScheduleError(`${JSON.stringify(schedule)} holds a line break or control character; separate its fields with spaces or tabs`);
  }
  const text = schedule.trim();
  if (text === '') throw new ScheduleError('the schedule is empty');
  if (text.startsWith('@every')) {
    const arg = text.slice('@every'.length).trim();
    const seconds = parseDuration(arg);
    if (arg === '' || seconds === null || /^\d+$/.test(arg)) {
      throw new ScheduleError(`"${schedule}" is not a valid @every schedule: expected a duration such as "@every 90s" or "@every 1h30m"`);
    }
    if (seconds < 1) throw new ScheduleError(`"${schedule}" is not a valid @every schedule: the interval must be at least 1s`);
    return { kind: 'every', seconds };
  }
  if (text === '@manual') return { kind: 'manual' };
  if (text.startsWith('@')) {
    if (!MACROS.has(text)) {
      throw new ScheduleError(`"${schedule}" is not a known macro: expected one of @yearly, @monthly, @weekly, @daily, @hourly, @manual or "@every <duration>"`);
    }
    checkCron(text, timezone, schedule);
    return { kind: 'cron', pattern: text };
  }
  if (ISO_RE.test(text)) {
    if (!isRealDate(text)) throw new ScheduleError(`"${schedule}" is not a valid ISO-8601 instant: that day or time does not exist`);
    let at: Date | null = null;
    try {
      at = new Cron(text, { paused: true, ...cronZone(timezone) }).getOnce();
    } catch {
      at = null;
    }
    if (!at || Number.isNaN(at.getTime())) throw new ScheduleError(`"${schedule}" is not a valid ISO-8601 instant`);
    return { kind: 'once', at: at.getTime() };
  }
  checkCron(text, timezone, schedule);
  return { kind: 'cron', pattern: text };
}

// Checking a pattern builds a croner Cron (~80 KB, ~60 us); configs repeat a few patterns over
// many jobs, so valid (pattern, zone) pairs are remembered. Bounded so hostile input cannot grow it.
const VALID_CACHE_LIMIT = 10_000;
const validPatterns = new Set<string>();

function checkCron(pattern: string, timezone: string, original: string): void {
  const key = `${timezone}\u0000${pattern}`;
  if (validPatterns.has(key)) return;
  checkCronUncached(pattern, timezone, original);
  if (validPatterns.size >= VALID_CACHE_LIMIT) validPatterns.clear();
  validPatterns.add(key);
}

function checkCronUncached(pattern: string, timezone: string, original: string): void {
  const fields = pattern.split(/\s+/).length;
  if (!pattern.startsWith('@') && fields !== 5 && fields !== 6) {
    throw new ScheduleError(`"${original}" is not a cron expression: it has ${fields} field${fields === 1 ? '' : 's'}; expected 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)`);
  }
  try {
    new Cron(pattern, { paused: true, ...cronZone(timezone), mode: '5-or-6-parts' });
  } catch (err) {
    const reason = (err as Error).message.replace(/^CronPattern: /, '');
    throw new ScheduleError(`"${original}" is not a cron expression: ${lowerFirst(reason)}`);
  }
}

/** Rejects 2030-02-30 and 25:00, which Date would silently roll over. */
function isRealDate(iso: string): boolean {
  const [, y, mo, d, h, mi, sec] = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(iso)!.map(Number) as number[];
  const t = new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, Number.isNaN(sec) ? 0 : sec!));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo! - 1 && t.getUTCDate() === d && t.getUTCHours() === h && t.getUTCMinutes() === mi;
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/** True for a one-shot schedule (an ISO-8601 instant), without the cost of a full parse. */
export function isOneShot(schedule: string): boolean {
  return ISO_RE.test(schedule.trim());
}

// Building an Intl.DateTimeFormat costs ~0.1 ms, paid once per job at start-up without this; a
// config names few zones. Only known zones are kept, so hostile input cannot grow the set.
const knownZones = new Set<string>();

/** True when `zone` is an IANA time zone name this Node.js knows. */
export function isValidTimezone(zone: string): boolean {
  if (isUtcName(zone) || knownZones.has(zone)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    return false;
  }
  if (knownZones.size < VALID_CACHE_LIMIT) knownZones.add(zone);
  return true;
}
