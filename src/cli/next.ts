/** `watchbell next "EXPR" [--timezone Z] [-n N]`: prints the next run times of a schedule. */
import { isValidTimezone, parseSchedule, ScheduleError } from '../jobs/schedule-spec.js';
import { nextRuns } from '../schedule/next-slot.js';
import { UsageError } from './usage-error.js';
import { findVerb, type Parsed } from './verbs.js';

/** Prints one RFC 3339 time a line; exit 1 for an invalid schedule or time zone. */
export async function runNext(args: Parsed): Promise<number> {
  const count = args.text('n') ?? '5';
  const n = Number(count);
  if (!/^\d+$/.test(count) || n < 1 || n > 1000) throw new UsageError(`-n ${count}: expected an integer from 1 to 1000`, findVerb('next'));
  const timezone = args.text('timezone') ?? 'UTC';
  const expression = args.positionals[0]!;
  if (!isValidTimezone(timezone)) {
    process.stderr.write(`--timezone ${JSON.stringify(timezone)} is not a known time zone; expected an IANA name such as "Europe/Berlin"\n`);
    return 1;
  }
  try {
    parseSchedule(expression, timezone);
  } catch (err) {
    if (!(err instanceof ScheduleError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
  const runs = nextRuns(expression, timezone, n);
  if (runs.length === 0) process.stderr.write('no future run times (a one-shot instant in the past?)\n');
  for (const run of runs) process.stdout.write(`${run.toISOString()}\n`);
  return 0;
}
