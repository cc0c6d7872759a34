/**
 * Oracle test: our nextSlot (croner underneath) against cron-parser, an independent implementation,
 * on a few hundred generated expressions.
 *
 * Known differences between the two, and how this test treats each:
 * 1. A day-of-week list naming Sunday as both 0 and 7 (`0,3,7`): cron-parser rejects it ("duplicate
 *    values found: 0"), croner accepts it. Avoided by the generator.
 * 2. DST transitions. croner runs a fixed-time job (single-value second, minute and hour) that falls
 *    in a spring-forward gap at the first valid time after the gap, skips the gap for other jobs, and
 *    runs a repeated fall-back time once for fixed-time jobs, twice for others. cron-parser moves a
 *    time in the gap an hour forward for every job and runs a repeated time once. Every zone used
 *    here changes clocks between 01:00 and 03:00 local time, so in zones with DST the generator keeps
 *    hours within 3-23, and no compared slot lies in a gap or an overlap. croner's behaviour is
 *    pinned in next-slot.test.ts instead.
 * 3. A day that never exists (`0 0 30 2 *`): croner returns null, cron-parser throws "Invalid explicit
 *    day of month definition". Both mean "never runs"; compared as such.
 * 4. Not generated, because they are extensions whose meaning differs or which one side lacks:
 *    `L`, `W`, `#`, `H` (cron-parser's hash; croner has none), `?`, 7-field years, names.
 */
import { expect } from 'chai';
import { CronExpressionParser } from 'cron-parser';
import { nextRuns } from '../../src/schedule/next-slot.js';
import { PatternCache } from '../../src/schedule/pattern-cache.js';

const EXPRESSIONS = 300;
const RUNS = 5;
const ZONES = ['UTC', 'Asia/Tokyo', 'Asia/Kolkata', 'Asia/Kathmandu', 'Europe/Berlin', 'America/New_York', 'Australia/Sydney'];
const ZONES_WITH_DST = new Set(['Europe/Berlin', 'America/New_York', 'Australia/Sydney']);
const MACROS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@hourly'];

/** mulberry32: a tiny seeded PRNG, so every run compares the same expressions. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Case {
  expr: string;
  tz: string;
  start: Date;
}

function generate(seed: number, count: number): Case[] {
  const rand = prng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)]!;

  /** One field over [min, max]: `*`, a value, a list, a range, `*\/step` or `a-b/step`. */
  function field(min: number, max: number): string {
    switch (int(0, 5)) {
      case 0:
        return '*';
      case 1:
        return String(int(min, max));
      case 2: {
        const values = new Set<number>();
        const n = int(2, 4);
        while (values.size < n) values.add(int(min, max));
        return [...values].sort((x, y) => x - y).join(',');
      }
      case 3: {
        const lo = int(min, max - 1);
        return `${lo}-${int(lo + 1, max)}`;
      }
      case 4:
        return `*/${int(2, Math.max(2, Math.floor((max - min) / 2)))}`;
      default: {
        const lo = int(min, max - 1);
        const hi = int(lo + 1, max);
        return `${lo}-${hi}/${int(1, hi - lo)}`;
      }
    }
  }

  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const tz = pick(ZONES);
    // Starts anywhere in 2020-2025, with milliseconds, which both sides must ignore.
    const start = new Date(Date.UTC(2020, 0, 1) + Math.floor(rand() * 6 * 365 * 86_400_000));
    if (i % 50 === 0) {
      cases.push({ expr: pick(MACROS), tz, start });
      continue;
    }
    // Difference 2: in DST zones, hours stay clear of the 01:00-03:00 transitions.
    const hour = ZONES_WITH_DST.has(tz) ? field(3, 23).replace(/^\*/, '3-23') : field(0, 23);
    // Difference 1: no day-of-week list with both 0 and 7.
    let dow: string;
    do dow = field(0, 7);
    while (/(^|,)0(,|$)/.test(dow) && /(^|,)7(,|$)/.test(dow));
    const fields = [field(0, 59), hour, field(1, 31), field(1, 12), dow];
    if (rand() < 0.5) fields.unshift(field(0, 59));
    cases.push({ expr: fields.join(' '), tz, start });
  }
  return cases;
}

/** cron-parser's next runs, or [] for a day that never exists (difference 3). */
function oracle({ expr, tz, start }: Case): string[] {
  try {
    const interval = CronExpressionParser.parse(expr, { currentDate: start, tz });
    return Array.from({ length: RUNS }, () => interval.next().toDate().toISOString());
  } catch (err) {
    if (/Invalid explicit day of month definition/.test((err as Error).message)) return [];
    throw err;
  }
}

describe('nextSlot against cron-parser (oracle)', () => {
  it(`agrees on the next ${RUNS} runs of ${EXPRESSIONS} generated expressions`, () => {
    const patterns = new PatternCache();
    const cases = generate(20240101, EXPRESSIONS);
    const disagreements: string[] = [];
    for (const c of cases) {
      const ours = nextRuns(c.expr, c.tz, RUNS, c.start, patterns).map((d) => d.toISOString());
      const theirs = oracle(c);
      if (ours.join() !== theirs.join()) {
        disagreements.push(`"${c.expr}" in ${c.tz} after ${c.start.toISOString()}:\n  ours   ${ours.join(' ')}\n  theirs ${theirs.join(' ')}`);
      }
    }
    expect(disagreements, disagreements.join('\n')).to.deep.equal([]);
    // The generator must produce both 5- and 6-field expressions, macros, and a spread of zones.
    expect(cases.some((c) => c.expr.split(' ').length === 5)).to.equal(true);
    expect(cases.some((c) => c.expr.split(' ').length === 6)).to.equal(true);
    expect(cases.some((c) => c.expr.startsWith('@'))).to.equal(true);
    expect(new Set(cases.map((c) => c.tz)).size).to.equal(ZONES.length);
  });

  it('still sees the documented DST difference (so difference 2 stays true)', () => {
    // A time in the spring-forward gap: croner runs this fixed-time job at 03:00 CEST, cron-parser
    // at 03:30 CEST. If the two ever converge, the generator can stop avoiding hours 1-2.
    const start = new Date('2024-03-30T12:00:00Z');
    const [ours] = nextRuns('30 2 * * *', 'Europe/Berlin', 1, start);
    const theirs = CronExpressionParser.parse('30 2 * * *', { currentDate: start, tz: 'Europe/Berlin' }).next().toDate();
    expect(ours!.toISOString()).to.equal('2024-03-31T01:00:00.000Z');
    expect(theirs.toISOString()).to.equal('2024-03-31T01:30:00.000Z');
  });
});
