import { expect } from 'chai';
import { isValidTimezone, parseSchedule, ScheduleError } from '../../src/jobs/schedule-spec.js';

/** The ScheduleError message parseSchedule throws for `schedule`. */
function scheduleError(schedule: string, timezone = 'UTC'): string {
  try {
    parseSchedule(schedule, timezone);
  } catch (err) {
    expect(err).to.be.instanceOf(ScheduleError);
    expect((err as Error).name).to.equal('ScheduleError');
    return (err as Error).message;
  }
  return expect.fail(`${JSON.stringify(schedule)} was accepted`);
}

const EVERY_HELP = 'expected a duration such as "@every 90s" or "@every 1h30m"';
const FIELDS_HELP = 'expected 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)';
const NO_SUCH_INSTANT = 'is not a valid ISO-8601 instant: that day or time does not exist';
const MACRO_HELP = 'expected one of @yearly, @monthly, @weekly, @daily, @hourly, @manual or "@every <duration>"';

describe('parseSchedule', () => {
  describe('cron', () => {
    it('reads 5-field expressions', () => {
      expect(parseSchedule('*/5 * * * *', 'UTC')).to.deep.equal({ kind: 'cron', pattern: '*/5 * * * *' });
      expect(parseSchedule('0 0 * * 1-5', 'Europe/Berlin')).to.deep.equal({ kind: 'cron', pattern: '0 0 * * 1-5' });
    });

    it('reads 6-field expressions (seconds first)', () => {
      expect(parseSchedule('30 */5 * * * *', 'UTC')).to.deep.equal({ kind: 'cron', pattern: '30 */5 * * * *' });
      expect(parseSchedule('* * * * * *', 'UTC')).to.deep.equal({ kind: 'cron', pattern: '* * * * * *' });
    });

    it('trims surrounding whitespace', () => {
      expect(parseSchedule('  0 3 * * *  ', 'UTC')).to.deep.equal({ kind: 'cron', pattern: '0 3 * * *' });
    });

    it('takes only spaces and tabs between fields: a \\r, a line break or U+2028 would rewrite a printed row', () => {
      expect(parseSchedule('0\t3 * * *', 'UTC')).to.deep.equal({ kind: 'cron', pattern: '0\t3 * * *' });
      for (const bad of ['0\r3 * * *', '0 3 * * *\n', '0\u20283 * * *', '0\u00a03 * * *', '0 3 * * *\u001b[2K', '\v0 3 * * *', '@every\r5m']) {
        expect(scheduleError(bad), JSON.stringify(bad)).to.include('line break or control character; separate its fields with spaces or tabs');
      }
    });

    it('reads the macros as cron', () => {
      for (const macro of ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']) {
        expect(parseSchedule(macro, 'UTC'), macro).to.deep.equal({ kind: 'cron', pattern: macro });
      }
    });

    it('names the problem with a bad expression', () => {
      expect(scheduleError('*/0 * * * *')).to.equal('"*/0 * * * *" is not a cron expression: syntax error, illegal stepping: 0');
      expect(scheduleError('60 * * * *')).to.equal('"60 * * * *" is not a cron expression: invalid value for minute: 60');
      expect(scheduleError('a b c d e')).to.equal('"a b c d e" is not a cron expression: configuration entry 1 (a) contains illegal characters.');
    });

    it('counts the fields when there are not 5 or 6', () => {
      expect(scheduleError('* * * *')).to.equal(`"* * * *" is not a cron expression: it has 4 fields; ${FIELDS_HELP}`);
      expect(scheduleError('* * * * * * *')).to.equal(`"* * * * * * *" is not a cron expression: it has 7 fields; ${FIELDS_HELP}`);
      expect(scheduleError('hello')).to.equal(`"hello" is not a cron expression: it has 1 field; ${FIELDS_HELP}`);
    });

    it('does not call an empty or blank schedule "1 field"', () => {
      for (const blank of ['', '   ']) {
        const message = scheduleError(blank);
        expect(message).to.equal('the schedule is empty');
      }
    });
  });

  describe('macros', () => {
    it('rejects unknown and upper-case macros', () => {
      expect(scheduleError('@fortnightly')).to.equal(`"@fortnightly" is not a known macro: ${MACRO_HELP}`);
      expect(scheduleError('@DAILY')).to.equal(`"@DAILY" is not a known macro: ${MACRO_HELP}`);
      expect(scheduleError('@reboot')).to.equal(`"@reboot" is not a known macro: ${MACRO_HELP}`);
    });
  });

  describe('@every', () => {
    it('reads durations into seconds', () => {
      expect(parseSchedule('@every 90s', 'UTC')).to.deep.equal({ kind: 'every', seconds: 90 });
      expect(parseSchedule('@every 1h30m', 'UTC')).to.deep.equal({ kind: 'every', seconds: 5400 });
      expect(parseSchedule('@every 15m', 'Europe/Berlin')).to.deep.equal({ kind: 'every', seconds: 900 });
      expect(parseSchedule('@every 1d', 'UTC')).to.deep.equal({ kind: 'every', seconds: 86400 });
      expect(parseSchedule('  @every   90s ', 'UTC')).to.deep.equal({ kind: 'every', seconds: 90 });
    });

    it('wants a duration with a unit', () => {
      expect(scheduleError('@every')).to.equal(`"@every" is not a valid @every schedule: ${EVERY_HELP}`);
      expect(scheduleError('@every 90')).to.equal(`"@every 90" is not a valid @every schedule: ${EVERY_HELP}`);
      expect(scheduleError('@every 5x')).to.equal(`"@every 5x" is not a valid @every schedule: ${EVERY_HELP}`);
      expect(scheduleError('@every -1s')).to.equal(`"@every -1s" is not a valid @every schedule: ${EVERY_HELP}`);
      expect(scheduleError('@every 1m1h')).to.equal(`"@every 1m1h" is not a valid @every schedule: ${EVERY_HELP}`);
    });

    it('wants at least one second', () => {
      expect(scheduleError('@every 0s')).to.equal('"@every 0s" is not a valid @every schedule: the interval must be at least 1s');
    });
  });

  describe('ISO-8601 instants', () => {
    const once = (schedule: string, timezone: string): string => {
      const spec = parseSchedule(schedule, timezone);
      if (spec.kind !== 'once') return expect.fail(`${schedule} read as ${spec.kind}`);
      return new Date(spec.at).toISOString();
    };

    it('reads an instant in UTC (Z) whatever the time zone', () => {
      expect(parseSchedule('2030-06-01T12:00:00Z', 'UTC')).to.deep.equal({ kind: 'once', at: Date.UTC(2030, 5, 1, 12) });
      expect(once('2030-06-01T12:00:00Z', 'Europe/Berlin')).to.equal('2030-06-01T12:00:00.000Z');
      expect(once('2030-06-01T12:00:00Z', 'America/New_York')).to.equal('2030-06-01T12:00:00.000Z');
    });

    it('reads an instant with an offset', () => {
      expect(once('2030-06-01T12:00:00+02:00', 'UTC')).to.equal('2030-06-01T10:00:00.000Z');
      expect(once('2030-06-01T12:00:00-05:30', 'Europe/Berlin')).to.equal('2030-06-01T17:30:00.000Z');
    });

    it('reads an instant without an offset in the given time zone', () => {
      expect(once('2030-06-01T12:00:00', 'Europe/Berlin')).to.equal('2030-06-01T10:00:00.000Z'); // CEST, +02:00
      expect(once('2030-01-01T12:00:00', 'Europe/Berlin')).to.equal('2030-01-01T11:00:00.000Z'); // CET, +01:00
      expect(once('2030-06-01T12:00:00', 'America/New_York')).to.equal('2030-06-01T16:00:00.000Z');
      expect(once('2030-06-01T12:00:00', 'UTC')).to.equal('2030-06-01T12:00:00.000Z');
    });

    it('accepts minutes without seconds', () => {
      expect(once('2030-06-01T12:00', 'Europe/Berlin')).to.equal('2030-06-01T10:00:00.000Z');
    });

    it('rejects impossible months, hours and minutes', () => {
      expect(scheduleError('2030-13-01T00:00:00Z')).to.equal(`"2030-13-01T00:00:00Z" ${NO_SUCH_INSTANT}`);
      expect(scheduleError('2030-06-01T25:00:00Z')).to.equal(`"2030-06-01T25:00:00Z" ${NO_SUCH_INSTANT}`);
      expect(scheduleError('2030-06-01T12:60:00Z')).to.equal(`"2030-06-01T12:60:00Z" ${NO_SUCH_INSTANT}`);
      expect(scheduleError('2030-06-01T12:00:60Z')).to.equal(`"2030-06-01T12:00:60Z" ${NO_SUCH_INSTANT}`);
    });

    it('rejects an impossible offset', () => {
      expect(scheduleError('2030-06-01T12:00:00+25:00')).to.equal('"2030-06-01T12:00:00+25:00" is not a valid ISO-8601 instant');
    });

    it('rejects days that do not exist instead of rolling over into the next month', () => {
      expect(scheduleError('2030-02-30T00:00:00Z')).to.equal(`"2030-02-30T00:00:00Z" ${NO_SUCH_INSTANT}`);
      expect(scheduleError('2030-02-29T00:00:00Z')).to.equal(`"2030-02-29T00:00:00Z" ${NO_SUCH_INSTANT}`); // not a leap year
      expect(scheduleError('2030-04-31T00:00:00', 'Europe/Berlin')).to.equal(`"2030-04-31T00:00:00" ${NO_SUCH_INSTANT}`);
    });

    it('reads a wall time skipped by a DST change as the time after the gap, and a repeated one as its first occurrence', () => {
      // Europe/Berlin jumps from 02:00 CET to 03:00 CEST on 31 March 2030 and back on 27 October.
      expect(once('2030-03-31T02:30:00', 'Europe/Berlin')).to.equal('2030-03-31T01:30:00.000Z');
      expect(once('2030-10-27T02:30:00', 'Europe/Berlin')).to.equal('2030-10-27T00:30:00.000Z');
    });

    it('accepts 29 February in a leap year', () => {
      expect(once('2028-02-29T00:00:00Z', 'UTC')).to.equal('2028-02-29T00:00:00.000Z');
    });
  });
});

describe('isValidTimezone', () => {
  it('knows IANA names and rejects others', () => {
    expect(isValidTimezone('UTC')).to.equal(true);
    expect(isValidTimezone('Europe/Berlin')).to.equal(true);
    expect(isValidTimezone('America/New_York')).to.equal(true);
    expect(isValidTimezone('Mars/Base')).to.equal(false);
    expect(isValidTimezone('')).to.equal(false);
  });
});
