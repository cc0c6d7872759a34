/** `watchbell next "EXPR" [--timezone Z] [-n N]`: prints the next run times of a schedule. */
import { isValidTimezone, parseSchedule, ScheduleError } from '../jobs/schedule-spec.js';
import { nextRuns } from '../schedule/next-slot.js';
import { parseFlags, UsageError } from './usage-error.js';

/** Prints one RFC 3339 time a line; exit 1 for an invalid schedule or time zone. */
export async function runNext(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags({
    args,
    allowPositionals: true,
    options: { timezone: { type: 'string', default: 'UTC' }, n: { type: 'string', short: 'n', default: '5' } },
  });
  if (positionals.length !== 1) throw new UsageError('usage: watchbell next "EXPR" [--timezone ZONE] [-n N]');
  const n = Number(values.n);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new UsageError(`-n ${values.n}: expected an integer from 1 to 1000`);
  const timezone = values.timezone!;
  if (!isValidTimezone(timezone)) {
    process.stderr.write(`--timezone ${JSON.stringify(timezone)} is not a known time zone; expected an IANA name such as "Europe/Berlin"\n`);
    return 1;
  }
  try {
    parseSchedule(positionals[0]!, timezone);
  } catch (err) {
    if (!(err instanceof ScheduleError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
  const runs = nextRuns(positionals[0]!, timezone, n);
  if (runs.length === 0) process.stderr.write('no future run times (a one-shot instant in the past?)\n');
  for (const run of runs) process.stdout.write(`${run.toISOString()}\n`);
  return 0;
}
