import { expect } from 'chai';
import { PatternCache } from '../../src/schedule/pattern-cache.js';

describe('PatternCache', () => {
  it('holds one Cron per (expression, time zone) and counts its users', () => {
    const cache = new PatternCache();
    cache.acquire('0 * * * *', 'UTC');
    cache.acquire('0 * * * *', 'UTC');
    cache.acquire('0  *  * * *', 'UTC'); // same expression, other spacing
    cache.acquire('0 * * * *', 'Europe/Berlin');
    expect(cache.size).to.equal(2);
    expect(cache.refs('0 * * * *', 'UTC')).to.equal(3);
  });

  it('holds 2,000 distinct expressions in far less than croner\'s 80 KB each (its year tables are shared)', () => {
    const cache = new PatternCache();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 2000; i++) cache.acquire(`${i % 60} ${Math.floor(i / 60) % 24} ${1 + (Math.floor(i / 1440) % 28)} * *`, 'UTC');
    const grown = process.memoryUsage().heapUsed - before;
    expect(cache.size).to.equal(2000);
    // Unshared: 2,000 x ~81 KB = ~160 MB. A failure here likely means croner changed its internals (see shareYearTable).
    expect(grown / 2000, `${(grown / 2000 / 1024).toFixed(1)} KiB per expression`).to.be.below(30 * 1024);
    expect(cache.nextRun('5 1 2 * *', 'UTC', new Date('2024-01-01T00:00:00Z'))).to.deep.equal(new Date('2024-01-02T01:05:00Z'));
  });

  it('drops a Cron when its last user releases it', () => {
    const cache = new PatternCache();
    cache.acquire('0 * * * *', 'UTC');
    cache.acquire('0 * * * *', 'UTC');
    cache.release('0 * * * *', 'UTC');
    expect(cache.size).to.equal(1);
    cache.release('0 * * * *', 'UTC');
    expect(cache.size).to.equal(0);
    cache.release('0 * * * *', 'UTC'); // an extra release is harmless
    expect(cache.refs('0 * * * *', 'UTC')).to.equal(0);
  });

  it('answers held and unheld patterns alike, without caching the unheld', () => {
    const cache = new PatternCache();
    const after = new Date('2024-01-01T00:00:00.250Z');
    const unheld = cache.nextRun('*/10 * * * * *', 'UTC', after);
    expect(cache.size).to.equal(0);
    cache.acquire('*/10 * * * * *', 'UTC');
    expect(cache.nextRun('*/10 * * * * *', 'UTC', after)).to.deep.equal(unheld);
    expect(unheld?.toISOString()).to.equal('2024-01-01T00:00:10.000Z');
  });

  it('remembers the last answer per second without handing out a shared Date', () => {
    const cache = new PatternCache();
    cache.acquire('* * * * * *', 'Europe/Berlin');
    const first = cache.nextRun('* * * * * *', 'Europe/Berlin', new Date('2024-01-01T00:00:00.100Z'))!;
    first.setTime(0);
    const again = cache.nextRun('* * * * * *', 'Europe/Berlin', new Date('2024-01-01T00:00:00.900Z'));
    expect(again?.toISOString()).to.equal('2024-01-01T00:00:01.000Z');
    const later = cache.nextRun('* * * * * *', 'Europe/Berlin', new Date('2024-01-01T00:00:01.000Z'));
    expect(later?.toISOString()).to.equal('2024-01-01T00:00:02.000Z');
  });

  it('throws on a bad pattern and holds nothing', () => {
    const cache = new PatternCache();
    expect(() => cache.acquire('*/0 * * * *', 'UTC')).to.throw();
    expect(cache.size).to.equal(0);
  });
});
