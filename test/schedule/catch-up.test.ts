/** Catch-up after downtime, as pure computation at fixed instants. */
import { expect } from 'chai';
import { parseSchedule, type ScheduleSpec } from '../../src/jobs/schedule-spec.js';
import { catchUpDecision, latestMissedSlot } from '../../src/schedule/catch-up.js';

const at = (iso: string) => new Date(iso);

describe('catch-up after downtime', function () {
  describe('latestMissedSlot', function () {
    it('gives the newest cron slot in (since, now], however long the gap', function () {
      const spec = parseSchedule('0 * * * *', 'UTC');
      expect(latestMissedSlot(spec, 'UTC', at('2026-01-01T00:00:00Z'), at('2026-03-01T05:30:00Z'))).to.deep.equal(at('2026-03-01T05:00:00Z'));
    });

    it('counts a slot exactly at now, and none when no slot passed since', function () {
      const spec = parseSchedule('0 * * * *', 'UTC');
      expect(latestMissedSlot(spec, 'UTC', at('2026-03-01T04:00:00Z'), at('2026-03-01T05:00:00Z'))).to.deep.equal(at('2026-03-01T05:00:00Z'));
      expect(latestMissedSlot(spec, 'UTC', at('2026-03-01T05:00:00Z'), at('2026-03-01T05:59:59Z'))).to.equal(null);
    });

    it('reads the expression in the job time zone', function () {
      const spec = parseSchedule('30 2 * * *', 'Europe/Berlin');
      expect(latestMissedSlot(spec, 'Europe/Berlin', at('2026-11-01T00:00:00Z'), at('2026-11-23T03:00:00Z'))).to.deep.equal(at('2026-11-23T01:30:00Z'));
    });

    it('handles @every on epoch multiples and one-shot instants', function () {
      const every = parseSchedule('@every 15m', 'UTC');
      expect(latestMissedSlot(every, 'UTC', at('2026-03-01T00:00:00Z'), at('2026-03-01T05:29:00Z'))).to.deep.equal(at('2026-03-01T05:15:00Z'));
      const once = parseSchedule('2026-03-01T05:00:00Z', 'UTC');
      expect(latestMissedSlot(once, 'UTC', at('2026-03-01T00:00:00Z'), at('2026-03-01T06:00:00Z'))).to.deep.equal(at('2026-03-01T05:00:00Z'));
      expect(latestMissedSlot(once, 'UTC', at('2026-03-01T00:00:00Z'), at('2026-03-01T04:00:00Z'))).to.equal(null);
      expect(latestMissedSlot(once, 'UTC', at('2026-03-01T05:00:00Z'), at('2026-03-01T06:00:00Z'))).to.equal(null);
    });

    it('counts a one-shot instant exactly at now as missed', function () {
      const once = parseSchedule('2026-03-01T05:00:00Z', 'UTC');
      expect(latestMissedSlot(once, 'UTC', at('2026-03-01T00:00:00Z'), at('2026-03-01T05:00:00Z'))).to.deep.equal(at('2026-03-01T05:00:00Z'));
      expect(latestMissedSlot(once, 'UTC', at('2026-03-01T00:00:00Z'), at('2026-03-01T04:59:59.999Z'))).to.equal(null);
    });
  });

  describe('catchUpDecision', function () {
    // Parsed in before(), not while mocha loads the file: a parser bug then fails these tests, not the whole run.
    let spec: ScheduleSpec;
    before(function () {
      spec = parseSchedule('0 * * * *', 'UTC');
    });
    const since = at('2026-03-01T00:00:00Z');
    const now = at('2026-03-01T05:20:00Z');

    it('runs the newest missed slot once with catch_up: latest within starting_deadline', function () {
      expect(catchUpDecision({ catch_up: 'latest', starting_deadline: 3600, timezone: 'UTC' }, spec, since, now)).to.deep.equal({ action: 'run', slot: at('2026-03-01T05:00:00Z') });
    });

    it('skips a slot older than starting_deadline', function () {
      expect(catchUpDecision({ catch_up: 'latest', starting_deadline: 600, timezone: 'UTC' }, spec, since, now)).to.deep.equal({ action: 'skip', slot: at('2026-03-01T05:00:00Z'), reason: 'past_deadline' });
    });

    it('skips a slot missed by exactly starting_deadline, and runs one missed by a millisecond less', function () {
      const job = { catch_up: 'latest' as const, starting_deadline: 1200, timezone: 'UTC' };
      expect(catchUpDecision(job, spec, since, now)).to.deep.equal({ action: 'skip', slot: at('2026-03-01T05:00:00Z'), reason: 'past_deadline' });
      expect(catchUpDecision(job, spec, since, at('2026-03-01T05:19:59.999Z'))).to.deep.equal({ action: 'run', slot: at('2026-03-01T05:00:00Z') });
    });

    it('skips with catch_up: none, and does nothing when nothing was missed', function () {
      expect(catchUpDecision({ catch_up: 'none', starting_deadline: 3600, timezone: 'UTC' }, spec, since, now)).to.deep.equal({ action: 'skip', slot: at('2026-03-01T05:00:00Z'), reason: 'catch_up_none' });
      expect(catchUpDecision({ catch_up: 'latest', starting_deadline: 3600, timezone: 'UTC' }, spec, at('2026-03-01T05:00:00Z'), now)).to.deep.equal({ action: 'none' });
    });
  });
});
