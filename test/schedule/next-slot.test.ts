import { expect } from 'chai';
import { ScheduleError, type ScheduleSpec } from '../../src/jobs/schedule-spec.js';
import { nextRuns, nextSlot } from '../../src/schedule/next-slot.js';
import { PatternCache } from '../../src/schedule/pattern-cache.js';

const cron = (pattern: string): ScheduleSpec => ({ kind: 'cron', pattern });
const at = (iso: string): Date => new Date(iso);
const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

describe('nextSlot', () => {
  describe('cron', () => {
    it('reads 5 fields as minute-level with second 0', () => {
      expect(iso(nextSlot(cron('*/15 * * * *'), 'UTC', at('2024-01-01T00:07:30Z')))).to.equal('2024-01-01T00:15:00.000Z');
      expect(iso(nextSlot(cron('0 12 * * 1-5'), 'UTC', at('2024-01-05T12:00:00Z')))).to.equal('2024-01-08T12:00:00.000Z');
    });

    it('reads 6 fields with seconds first', () => {
      expect(iso(nextSlot(cron('30 */5 * * * *'), 'UTC', at('2024-01-01T00:00:00Z')))).to.equal('2024-01-01T00:00:30.000Z');
      expect(iso(nextSlot(cron('30 */5 * * * *'), 'UTC', at('2024-01-01T00:00:30Z')))).to.equal('2024-01-01T00:05:30.000Z');
    });

    it('is strictly after `after`, ignoring its milliseconds', () => {
      const every = cron('* * * * * *');
      expect(iso(nextSlot(every, 'UTC', at('2024-01-01T12:00:00.000Z')))).to.equal('2024-01-01T12:00:01.000Z');
      expect(iso(nextSlot(every, 'UTC', at('2024-01-01T12:00:00.500Z')))).to.equal('2024-01-01T12:00:01.000Z');
      expect(iso(nextSlot(every, 'UTC', at('2024-01-01T12:00:00.999Z')))).to.equal('2024-01-01T12:00:01.000Z');
    });

    it('ORs day of month and day of week when both are restricted', () => {
      // Every Monday or the 1st: Mondays in January, then Thursday 1 February.
      const runs = nextRuns('0 0 1 * 1', 'UTC', 3, at('2024-01-02T00:00:00Z'));
      expect(runs.map(iso)).to.deep.equal(['2024-01-08T00:00:00.000Z', '2024-01-15T00:00:00.000Z', '2024-01-22T00:00:00.000Z']);
      expect(iso(nextSlot(cron('0 0 1 * 1'), 'UTC', at('2024-01-29T00:00:00Z')))).to.equal('2024-02-01T00:00:00.000Z');
    });

    it('expands the macros', () => {
      const after = at('2024-01-03T05:06:07Z'); // a Wednesday
      const cases: Array<[string, string]> = [
        ['@yearly', '2025-01-01T00:00:00.000Z'],
        ['@annually', '2025-01-01T00:00:00.000Z'],
        ['@monthly', '2024-02-01T00:00:00.000Z'],
        ['@weekly', '2024-01-07T00:00:00.000Z'],
        ['@daily', '2024-01-04T00:00:00.000Z'],
        ['@midnight', '2024-01-04T00:00:00.000Z'],
        ['@hourly', '2024-01-03T06:00:00.000Z'],
      ];
      for (const [macro, expected] of cases) expect(iso(nextSlot(cron(macro), 'UTC', after)), macro).to.equal(expected);
    });

    it('reads the expression in the job time zone', () => {
      expect(iso(nextSlot(cron('0 9 * * *'), 'Asia/Tokyo', at('2023-12-31T23:00:00Z')))).to.equal('2024-01-01T00:00:00.000Z');
      expect(iso(nextSlot(cron('30 9 * * *'), 'Asia/Kolkata', at('2024-01-01T00:00:00Z')))).to.equal('2024-01-01T04:00:00.000Z');
      // New York is UTC-5 in winter and UTC-4 in summer.
      expect(iso(nextSlot(cron('0 9 * * *'), 'America/New_York', at('2024-01-10T00:00:00Z')))).to.equal('2024-01-10T14:00:00.000Z');
      expect(iso(nextSlot(cron('0 9 * * *'), 'America/New_York', at('2024-07-10T00:00:00Z')))).to.equal('2024-07-10T13:00:00.000Z');
      expect(iso(nextSlot(cron('@daily'), 'Europe/Berlin', at('2024-01-10T12:00:00Z')))).to.equal('2024-01-10T23:00:00.000Z');
    });

    it('returns null for a date that never exists', () => {
      expect(nextSlot(cron('0 0 30 2 *'), 'UTC', at('2024-01-01T00:00:00Z'))).to.equal(null);
    });

    describe('DST in Europe/Berlin for "30 2 * * *"', () => {
      // croner sorts jobs into two kinds (its `fixedTimeRule: 'single-value'` default): a job whose
      // second, minute and hour are single values, like `30 2 * * *`, is a *fixed-time* job; any
      // wildcard, list, range or step there makes an *interval* job.
      // - Spring forward (2024-03-31, 02:00 CET -> 03:00 CEST, so 02:30 does not exist): a fixed-time
      //   job runs once at the first valid time after the gap, 03:00 CEST = 01:00Z; an interval job
      //   skips the times in the gap.
      // - Fall back (2024-10-27, 03:00 CEST -> 02:00 CET, so 02:30 happens twice): a fixed-time job
      //   runs once, at the first occurrence, 02:30 CEST = 00:30Z; an interval job runs at both.
      // cron-parser differs on both days (see oracle.test.ts), so this is pinned here.
      const daily = cron('30 2 * * *');
      const berlin = 'Europe/Berlin';

      it('runs at 03:00 CEST on the spring-forward day', () => {
        const runs = [];
        let after: Date | null = at('2024-03-30T12:00:00Z');
        for (let i = 0; i < 3; i++) runs.push(iso((after = nextSlot(daily, berlin, after!))));
        expect(runs).to.deep.equal(['2024-03-31T01:00:00.000Z', '2024-04-01T00:30:00.000Z', '2024-04-02T00:30:00.000Z']);
      });

      it('runs once, at the first 02:30 (CEST), on the fall-back day', () => {
        const runs = nextRuns('30 2 * * *', berlin, 3, at('2024-10-26T12:00:00Z'));
        expect(runs.map(iso)).to.deep.equal(['2024-10-27T00:30:00.000Z', '2024-10-28T01:30:00.000Z', '2024-10-29T01:30:00.000Z']);
      });

      it('treats an interval job differently: skips the gap, repeats the overlap', () => {
        const spring = nextRuns('30 * * * *', berlin, 3, at('2024-03-31T00:00:00Z'));
        // 01:30 CET, then 03:30 CEST: 02:30 does not exist and is skipped.
        expect(spring.map(iso)).to.deep.equal(['2024-03-31T00:30:00.000Z', '2024-03-31T01:30:00.000Z', '2024-03-31T02:30:00.000Z']);
        const fall = nextRuns('30 * * * *', berlin, 3, at('2024-10-27T00:00:00Z'));
        // 02:30 CEST, 02:30 CET, 03:30 CET: an hour apart each, the repeated 02:30 runs twice.
        expect(fall.map(iso)).to.deep.equal(['2024-10-27T00:30:00.000Z', '2024-10-27T01:30:00.000Z', '2024-10-27T02:30:00.000Z']);
      });
    });
  });

  describe('@every', () => {
    it('fires at whole multiples of the interval since the Unix epoch', () => {
      const spec: ScheduleSpec = { kind: 'every', seconds: 90 };
      expect(iso(nextSlot(spec, 'UTC', new Date(0)))).to.equal('1970-01-01T00:01:30.000Z');
      expect(iso(nextSlot(spec, 'UTC', new Date(89_999)))).to.equal('1970-01-01T00:01:30.000Z');
      // Strictly after: a slot passed back in gives the next one.
      expect(iso(nextSlot(spec, 'UTC', new Date(90_000)))).to.equal('1970-01-01T00:03:00.000Z');
    });

    it('ignores the time zone', () => {
      const spec: ScheduleSpec = { kind: 'every', seconds: 5400 };
      const after = at('2024-01-01T00:00:00Z'); // 1704067200 s, a multiple of 5400
      expect(iso(nextSlot(spec, 'UTC', after))).to.equal('2024-01-01T01:30:00.000Z');
      expect(iso(nextSlot(spec, 'Asia/Kathmandu', after))).to.equal('2024-01-01T01:30:00.000Z');
    });
  });

  describe('once', () => {
    const spec: ScheduleSpec = { kind: 'once', at: Date.parse('2024-06-01T10:00:00Z') };

    it('is the instant while it is in the future', () => {
      expect(iso(nextSlot(spec, 'UTC', at('2024-06-01T09:59:59.999Z')))).to.equal('2024-06-01T10:00:00.000Z');
    });

    it('is null once the instant is reached or past', () => {
      expect(nextSlot(spec, 'UTC', at('2024-06-01T10:00:00Z'))).to.equal(null);
      expect(nextSlot(spec, 'UTC', at('2025-01-01T00:00:00Z'))).to.equal(null);
    });
  });
});

describe('nextRuns', () => {
  it('lists the next n slots of a schedule string', () => {
    const runs = nextRuns('0 */6 * * *', 'UTC', 5, at('2024-01-01T01:00:00Z'));
    expect(runs.map(iso)).to.deep.equal([
      '2024-01-01T06:00:00.000Z',
      '2024-01-01T12:00:00.000Z',
      '2024-01-01T18:00:00.000Z',
      '2024-01-02T00:00:00.000Z',
      '2024-01-02T06:00:00.000Z',
    ]);
    expect(nextRuns('@every 1h30m', 'UTC', 2, at('2024-01-01T00:00:00Z')).map(iso)).to.deep.equal([
      '2024-01-01T01:30:00.000Z',
      '2024-01-01T03:00:00.000Z',
    ]);
  });

  it('gives at most one slot for a one-shot, read in the time zone when it has no offset', () => {
    expect(nextRuns('2024-06-01T10:00:00', 'Europe/Berlin', 5, at('2024-01-01T00:00:00Z')).map(iso)).to.deep.equal([
      '2024-06-01T08:00:00.000Z',
    ]);
    expect(nextRuns('2024-06-01T10:00:00Z', 'UTC', 5, at('2024-07-01T00:00:00Z'))).to.deep.equal([]);
  });

  it('throws ScheduleError on a bad schedule', () => {
    expect(() => nextRuns('*/0 * * * *', 'UTC', 5)).to.throw(ScheduleError, /is not a cron expression/);
  });

  it('leaves no Cron behind in the cache', () => {
    const patterns = new PatternCache();
    expect(nextRuns('*/5 * * * *', 'UTC', 5, at('2024-01-01T00:00:00Z'), patterns)).to.have.length(5);
    expect(patterns.size).to.equal(0);
  });
});
