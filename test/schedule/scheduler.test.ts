import { expect } from 'chai';
import { Events, type WatchbellEvents } from '../../src/jobs/events.js';
import { PatternCache } from '../../src/schedule/pattern-cache.js';
import { Scheduler, type SchedulerOptions } from '../../src/schedule/scheduler.js';

const T0 = Date.UTC(2024, 0, 1); // a whole minute, so `*/5` seconds and `@every 2s` align with it
const EVERY_SECOND = '* * * * * *';

interface Call {
  jobId: string;
  slot: number;
  firedAt: number;
}

/** Records onDue calls; waitFor(n) resolves once n calls have been seen, and fails after a bound. */
class Recorder {
  readonly calls: Call[] = [];
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  private readonly now: () => number;
  beforeRecord: (jobId: string) => void = () => {};

  constructor(now: () => number) {
    this.now = now;
  }

  readonly onDue = (jobId: string, slot: Date): void => {
    this.beforeRecord(jobId);
    this.calls.push({ jobId, slot: slot.getTime(), firedAt: this.now() });
    this.waiters = this.waiters.filter((w) => (this.calls.length >= w.n ? (w.resolve(), false) : true));
  };

  waitFor(n: number, boundMs = 5000): Promise<void> {
    if (this.calls.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const bound = setTimeout(() => reject(new Error(`expected ${n} onDue calls, saw ${this.calls.length}`)), boundMs);
      this.waiters.push({ n, resolve: () => (clearTimeout(bound), resolve()) });
    });
  }

  slotsOf(jobId: string): number[] {
    return this.calls.filter((c) => c.jobId === jobId).map((c) => c.slot);
  }
}

/**
 * A wall clock the test sets by hand. The scheduler's sleep is capped at 2 ms so it notices a jump
 * at once: the same cap that, at 60 s in production, makes it notice a wall clock set forward.
 */
function manualClock(start = T0): { now: () => number; set: (t: number) => void } {
  let t = start;
  return { now: () => t, set: (to) => void (t = to) };
}

/** Resolves once `cond` holds, polling every few ms; fails after a bound. */
async function until(cond: () => boolean, boundMs = 3000): Promise<void> {
  const end = Date.now() + boundMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('Scheduler', () => {
  const started: Scheduler[] = [];
  function scheduler(options: Partial<SchedulerOptions> & Pick<SchedulerOptions, 'onDue'>): Scheduler {
    const s = new Scheduler({ maxSleepMs: 2, patterns: new PatternCache(), ...options });
    started.push(s);
    return s;
  }
  afterEach(() => {
    for (const s of started.splice(0)) s.stop();
  });

  function collect<K extends keyof WatchbellEvents>(events: Events, name: K): Array<WatchbellEvents[K]> {
    const seen: Array<WatchbellEvents[K]> = [];
    events.on(name, (p) => seen.push(p));
    return seen;
  }

  it('fires a "* * * * * *" job on the real clock, on a whole second, not before it', async () => {
    const rec = new Recorder(Date.now);
    const s = new Scheduler({ onDue: rec.onDue, patterns: new PatternCache() });
    started.push(s);
    const first = s.set({ id: 'tick', schedule: EVERY_SECOND, timezone: 'UTC' })!;
    s.start();
    await rec.waitFor(1, 3000);
    const [call] = rec.calls;
    expect(call!.jobId).to.equal('tick');
    expect(call!.slot).to.equal(first.getTime());
    expect(call!.slot % 1000).to.equal(0);
    expect(call!.firedAt).to.be.at.least(call!.slot);
    expect(call!.firedAt - call!.slot).to.be.below(1000); // generous: a loaded CI machine
    expect(s.nextRun('tick')!.getTime()).to.be.greaterThan(call!.slot);
  });

  it('fires every slot once, in order', async () => {
    const clock = manualClock();
    const rec = new Recorder(clock.now);
    const s = scheduler({ onDue: rec.onDue, now: clock.now });
    expect(s.set({ id: 'a', schedule: EVERY_SECOND, timezone: 'UTC' })?.getTime()).to.equal(T0 + 1000);
    s.start();
    for (let i = 1; i <= 3; i++) {
      clock.set(T0 + i * 1000);
      await rec.waitFor(i);
    }
    expect(rec.slotsOf('a')).to.deep.equal([T0 + 1000, T0 + 2000, T0 + 3000]);
    expect(s.nextRun('a')?.getTime()).to.equal(T0 + 4000);
  });

  it('after a late wake-up fires a job once, for its latest missed slot, not once per missed slot, and says it was late', async () => {
    const clock = manualClock();
    const events = new Events();
    const late = collect(events, 'schedule:late');
    const rec = new Recorder(clock.now);
    const s = scheduler({ onDue: rec.onDue, now: clock.now, events });
    s.set({ id: 'a', schedule: EVERY_SECOND, timezone: 'UTC' });
    s.start();
    clock.set(T0 + 10_500); // e.g. the machine was suspended for 9.5 s
    await rec.waitFor(1);
    expect(rec.slotsOf('a')).to.deep.equal([T0 + 10_000]);
    expect(late).to.deep.equal([{ jobId: 'a', slot: new Date(T0 + 1000), lateMs: 9500 }]);
    expect(s.nextRun('a')?.getTime()).to.equal(T0 + 11_000);
    clock.set(T0 + 11_000);
    await rec.waitFor(2);
    expect(rec.slotsOf('a')).to.deep.equal([T0 + 10_000, T0 + 11_000]);
  });

  it('waits, neither firing early nor twice, when the wall clock is set back', async () => {
    const clock = manualClock();
    const rec = new Recorder(clock.now);
    const s = scheduler({ onDue: rec.onDue, now: clock.now });
    s.set({ id: 'a', schedule: EVERY_SECOND, timezone: 'UTC' });
    s.set({ id: 'later', schedule: '*/5 * * * * *', timezone: 'UTC' });
    s.start();
    clock.set(T0 - 3_600_000);
    // Let the timer wake a few times on the earlier clock: each time nothing is due and it re-arms.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 3));
    expect(rec.calls).to.deep.equal([]);
    clock.set(T0 + 5000);
    await rec.waitFor(2);
    expect(rec.calls.map((c) => [c.jobId, c.slot])).to.deep.equal([
      ['a', T0 + 5000],
      ['later', T0 + 5000],
    ]);
  });

  it('fires thousands of late jobs once each, for their latest slot, over several turns rather than one', async () => {
    const clock = manualClock();
    const rec = new Recorder(clock.now);
    const s = scheduler({ onDue: rec.onDue, now: clock.now });
    const n = 10_000;
    for (let i = 0; i < n; i++) s.set({ id: `j${i}`, schedule: EVERY_SECOND, timezone: 'UTC' });
    s.start();
    // Which event-loop turn each call came in: a setImmediate chain counts turns while the jobs fire.
    let turn = 0;
    let spinning = true;
    const spin = () => {
      turn++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    const turnsSeen = new Set<number>();
    rec.beforeRecord = () => turnsSeen.add(turn);
    clock.set(T0 + 10_500);
    await rec.waitFor(n, 20_000);
    spinning = false;
    expect(new Set(rec.calls.map((c) => c.jobId)).size).to.equal(n);
    expect([...new Set(rec.calls.map((c) => c.slot))]).to.deep.equal([T0 + 10_000]);
    expect(turnsSeen.size, 'event-loop turns the late jobs fired in').to.be.above(1);
  });

  it('notices a wall clock set back against the monotonic clock: wildcard jobs fire at the new time, fixed-time jobs do not rerun', async () => {
    const clock = manualClock();
    let mono = 0;
    const events = new Events();
    const stepped = collect(events, 'clock:stepped');
    const rec = new Recorder(clock.now);
    const s = scheduler({ onDue: rec.onDue, now: clock.now, monotonic: () => mono, events });
    s.set({ id: 'tick', schedule: EVERY_SECOND, timezone: 'UTC' });
    s.set({ id: 'fixed', schedule: '1 0 0 * * *', timezone: 'UTC' }); // 00:00:01 daily: T0 + 1 s
    s.start();
    clock.set(T0 + 1000);
    mono = 1000;
    await rec.waitFor(2);
    const back = T0 + 1500 - 3_600_000;
    clock.set(back);
    mono = 1500;
    await until(() => stepped.length === 1);
    expect(stepped[0]!.stepMs).to.equal(-3_600_000);
    expect(s.nextRun('tick')?.getTime()).to.equal(back + 500);
    expect(s.nextRun('fixed')?.getTime()).to.equal(T0 + 1000 + 86_400_000);
    clock.set(back + 500);
    mono = 2000;
    await rec.waitFor(3);
    expect(rec.calls.map((c) => [c.jobId, c.slot])).to.deep.equal([
      ['tick', T0 + 1000],
      ['fixed', T0 + 1000],
      ['tick', back + 500],
    ]);
  });

  it('notices a wall clock set forward: each job fires once at once, for its latest slot', async () => {
    const clock = manualClock();
    let mono = 0;
    const events = new Events();
    const stepped = collect(events, 'clock:stepped');
    const rec = new Recorder(clock.now);
    const s = scheduler({ onDue: rec.onDue, now: clock.now, monotonic: () => mono, events, maxSleepMs: 60_000 });
    s.set({ id: 'minute', schedule: '0 * * * * *', timezone: 'UTC' });
    s.start();
    clock.set(T0 + 3_600_500);
    mono = 500;
    // The armed timer would sleep out its minute; the step is seen by the clock check within a second.
    await rec.waitFor(1, 3000);
    expect(stepped.map((e) => e.stepMs)).to.deep.equal([3_600_000]);
    expect(rec.slotsOf('minute')).to.deep.equal([T0 + 3_600_000]);
    expect(s.nextRun('minute')?.getTime()).to.equal(T0 + 3_660_000);
  });

  it('reschedules in place: the old slot never fires', async () => {
    const clock = manualClock();
    const rec = new Recorder(clock.now);
    const s = scheduler({ onDue: rec.onDue, now: clock.now });
    s.set({ id: 'a', schedule: EVERY_SECOND, timezone: 'UTC' });
    s.set({ id: 'twice', schedule: EVERY_SECOND, timezone: 'UTC' });
    s.set({ id: 'twice', schedule: EVERY_SECOND, timezone: 'UTC' });
    expect(s.set({ id: 'a', schedule: '*/5 * * * * *', timezone: 'UTC' })?.getTime()).to.equal(T0 + 5000);
    s.start();
    clock.set(T0 + 5000);
    await rec.waitFor(2);
    // One batch: everything due at T0+5000 was fired before the promise resolved.
    expect(rec.slotsOf('a')).to.deep.equal([T0 + 5000]);
    expect(rec.slotsOf('twice')).to.deep.equal([T0 + 5000]);
    expect(s.size).to.equal(2);
  });

  it('forgets a removed job: it does not fire and has no next run', async () => {
    const clock = manualClock();
    const rec = new Recorder(clock.now);
    const s = scheduler({ onDue: rec.onDue, now: clock.now });
    s.set({ id: 'a', schedule: EVERY_SECOND, timezone: 'UTC' });
    s.set({ id: 'b', schedule: EVERY_SECOND, timezone: 'UTC' });
    s.remove('a');
    s.remove('unknown');
    s.start();
    clock.set(T0 + 1000);
    await rec.waitFor(1);
    expect(rec.calls.map((c) => c.jobId)).to.deep.equal(['b']);
    expect(s.has('a')).to.equal(false);
    expect(s.nextRun('a')).to.equal(null);
    expect(s.size).to.equal(1);
  });

  it('keeps a job with no next slot known but unqueued, and fires a one-shot once', async () => {
    const clock = manualClock();
    const rec = new Recorder(clock.now);
    const s = scheduler({ onDue: rec.onDue, now: clock.now });
    expect(s.set({ id: 'past', schedule: '2023-06-01T00:00:00Z', timezone: 'UTC' })).to.equal(null);
    expect(s.set({ id: 'once', schedule: '2024-01-01T00:00:02Z', timezone: 'UTC' })?.getTime()).to.equal(T0 + 2000);
    s.set({ id: 'every', schedule: '@every 2s', timezone: 'UTC' });
    expect(s.has('past')).to.equal(true);
    expect(s.nextRun('past')).to.equal(null);
    s.start();
    clock.set(T0 + 2000);
    await rec.waitFor(2);
    clock.set(T0 + 4000);
    await rec.waitFor(3);
    expect(rec.calls.map((c) => [c.jobId, c.slot])).to.deep.equal([
      ['once', T0 + 2000],
      ['every', T0 + 2000],
      ['every', T0 + 4000],
    ]);
    expect(s.nextRun('once')).to.equal(null);
    expect(s.has('once')).to.equal(true);
  });

  it('keeps firing when onDue throws, and reports the error', async () => {
    const clock = manualClock();
    const events = new Events();
    const errors = collect(events, 'error');
    const rec = new Recorder(clock.now);
    rec.beforeRecord = (jobId) => {
      if (jobId === 'bad') throw new Error('boom');
    };
    const s = scheduler({ onDue: rec.onDue, now: clock.now, events });
    s.set({ id: 'bad', schedule: EVERY_SECOND, timezone: 'UTC' });
    s.set({ id: 'good', schedule: EVERY_SECOND, timezone: 'UTC' });
    s.start();
    clock.set(T0 + 1000);
    await rec.waitFor(1);
    expect(errors).to.have.length(1);
    expect(errors[0]!.where).to.equal('onDue of job bad');
    expect((errors[0]!.error as Error).message).to.equal('boom');
    expect(s.nextRun('bad')?.getTime()).to.equal(T0 + 2000);
    clock.set(T0 + 2000);
    await rec.waitFor(2);
    expect(rec.slotsOf('good')).to.deep.equal([T0 + 1000, T0 + 2000]);
    expect(errors).to.have.length(2);
  });

  it('lets onDue reschedule or remove the job it is called for', async () => {
    const clock = manualClock();
    const rec = new Recorder(clock.now);
    const s = scheduler({ onDue: rec.onDue, now: clock.now });
    rec.beforeRecord = (jobId) => {
      if (jobId === 'moved') s.set({ id: 'moved', schedule: '*/5 * * * * *', timezone: 'UTC' });
      if (jobId === 'gone') s.remove('gone');
    };
    for (const id of ['moved', 'gone', 'stay']) s.set({ id, schedule: EVERY_SECOND, timezone: 'UTC' });
    s.start();
    clock.set(T0 + 1000);
    await rec.waitFor(3);
    // The recomputation after the batch must not overwrite what onDue decided.
    expect(s.nextRun('moved')?.getTime()).to.equal(T0 + 5000);
    expect(s.has('gone')).to.equal(false);
    clock.set(T0 + 2000);
    await rec.waitFor(4);
    expect(rec.calls.map((c) => [c.jobId, c.slot])).to.deep.equal([
      ['moved', T0 + 1000],
      ['gone', T0 + 1000],
      ['stay', T0 + 1000],
      ['stay', T0 + 2000],
    ]);
  });

  it('computes next slots of a big batch in chunks, without double fires, and answers nextRun meanwhile', async () => {
    const clock = manualClock();
    const rec = new Recorder(clock.now);
    const s = scheduler({ onDue: rec.onDue, now: clock.now, chunkSize: 10 });
    const ids = Array.from({ length: 100 }, (_, i) => `job-${i}`);
    for (const id of ids) s.set({ id, schedule: EVERY_SECOND, timezone: 'Europe/Berlin' });
    let seenWhilePending: number | undefined;
    rec.beforeRecord = (jobId) => {
      // The last job of the batch: no job has been given its next slot yet.
      if (jobId === 'job-99' && rec.calls.length === 99) seenWhilePending = s.nextRun('job-50')?.getTime();
    };
    s.start();
    clock.set(T0 + 1000);
    await rec.waitFor(100);
    expect(seenWhilePending).to.equal(T0 + 2000);
    for (const id of ids) expect(s.nextRun(id)?.getTime(), id).to.equal(T0 + 2000);
    clock.set(T0 + 2000);
    await rec.waitFor(200);
    for (const id of ids) expect(rec.slotsOf(id), id).to.deep.equal([T0 + 1000, T0 + 2000]);
  });

  it('shares one Cron per (expression, time zone) and drops it with its last job', () => {
    const patterns = new PatternCache();
    const s = scheduler({ onDue: () => {}, now: () => T0, patterns });
    // 10,000 jobs over 1,000 expressions: the contract's 100,000 over 1,000, scaled down for speed.
    for (let i = 0; i < 10_000; i++) s.set({ id: `job-${i}`, schedule: `${i % 1000 % 60} ${Math.floor((i % 1000) / 60)} * * *`, timezone: 'UTC' });
    expect(s.size).to.equal(10_000);
    expect(patterns.size).to.equal(1000);
    // Rescheduling onto an expression already held creates nothing; leaving one releases it.
    s.set({ id: 'job-0', schedule: '1 0 * * *', timezone: 'UTC' });
    expect(patterns.size).to.equal(1000);
    expect(patterns.refs('0 0 * * *', 'UTC')).to.equal(9);
    for (let i = 0; i < 10_000; i++) s.remove(`job-${i}`);
    expect(patterns.size).to.equal(0);
  });

  it('starts and stops idempotently; a stopped scheduler fires nothing', async () => {
    const clock = manualClock();
    const rec = new Recorder(clock.now);
    const s = scheduler({ onDue: rec.onDue, now: clock.now });
    s.set({ id: 'a', schedule: EVERY_SECOND, timezone: 'UTC' });
    s.start();
    s.start();
    s.stop();
    s.stop();
    clock.set(T0 + 1000);
    await new Promise((resolve) => setTimeout(resolve, 10)); // proving an absence needs a bounded wait
    expect(rec.calls).to.deep.equal([]);
    s.start();
    await rec.waitFor(1);
    expect(rec.slotsOf('a')).to.deep.equal([T0 + 1000]);
  });

  it('sleeps at most the cap, so a slot decades away does not overflow setTimeout', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const rec = new Recorder(Date.now);
      const s = new Scheduler({ onDue: rec.onDue, patterns: new PatternCache() });
      started.push(s);
      s.set({ id: 'far', schedule: '2100-01-01T00:00:00Z', timezone: 'UTC' });
      s.start();
      // Node fires an overflowing setTimeout after 1 ms (with a TimeoutOverflowWarning): give it time to.
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(rec.calls).to.deep.equal([]);
      expect(warnings).to.not.include('TimeoutOverflowWarning');
      expect(s.nextRun('far')?.toISOString()).to.equal('2100-01-01T00:00:00.000Z');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('rejects a bad schedule and keeps the job as it was', () => {
    const s = scheduler({ onDue: () => {}, now: () => T0 });
    s.set({ id: 'a', schedule: EVERY_SECOND, timezone: 'UTC' });
    expect(() => s.set({ id: 'a', schedule: '*/0 * * * *', timezone: 'UTC' })).to.throw(/is not a cron expression/);
    expect(s.nextRun('a')?.getTime()).to.equal(T0 + 1000);
  });
});
