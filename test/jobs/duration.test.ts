import { expect } from 'chai';
import { formatDuration, parseDuration } from '../../src/jobs/duration.js';

describe('parseDuration', () => {
  it('takes non-negative integers as seconds', () => {
    expect(parseDuration(0)).to.equal(0);
    expect(parseDuration(90)).to.equal(90);
    expect(parseDuration(86400)).to.equal(86400);
  });

  it('takes digit strings as seconds', () => {
    expect(parseDuration('0')).to.equal(0);
    expect(parseDuration('90')).to.equal(90);
    expect(parseDuration(' 90 ')).to.equal(90);
  });

  it('reads unit strings', () => {
    expect(parseDuration('90s')).to.equal(90);
    expect(parseDuration('5m')).to.equal(300);
    expect(parseDuration('2h')).to.equal(7200);
    expect(parseDuration('1h30m')).to.equal(5400);
    expect(parseDuration('1d')).to.equal(86400);
    expect(parseDuration('1d2h3m4s')).to.equal(93784);
    expect(parseDuration('0s')).to.equal(0);
    expect(parseDuration('90m')).to.equal(5400);
  });

  it('ignores whitespace around the value', () => {
    expect(parseDuration(' 5m ')).to.equal(300);
    expect(parseDuration('\t1h30m\n')).to.equal(5400);
  });

  it('rejects empty and blank strings', () => {
    expect(parseDuration('')).to.equal(null);
    expect(parseDuration('   ')).to.equal(null);
  });

  it('rejects unknown units, signs, fractions and upper case', () => {
    for (const bad of ['5x', '-1', '-1s', '+5', '1.5', '1.5h', '1H', 'd', 'm5', '1h 30m', '5 m', '1e3', '0x10']) {
      expect(parseDuration(bad), JSON.stringify(bad)).to.equal(null);
    }
  });

  it('rejects units out of order (largest first)', () => {
    expect(parseDuration('1m1h')).to.equal(null);
    expect(parseDuration('30s1m')).to.equal(null);
    expect(parseDuration('1h1d')).to.equal(null);
    expect(parseDuration('1h1h')).to.equal(null);
  });

  it('rejects negative, fractional and non-finite numbers', () => {
    expect(parseDuration(-1)).to.equal(null);
    expect(parseDuration(1.5)).to.equal(null);
    expect(parseDuration(Number.NaN)).to.equal(null);
    expect(parseDuration(Number.POSITIVE_INFINITY)).to.equal(null);
    expect(parseDuration(2 ** 53)).to.equal(null);
  });

  it('rejects values that are neither numbers nor strings', () => {
    expect(parseDuration(null)).to.equal(null);
    expect(parseDuration(undefined)).to.equal(null);
    expect(parseDuration(true)).to.equal(null);
    expect(parseDuration([])).to.equal(null);
    expect(parseDuration({})).to.equal(null);
  });
});

describe('formatDuration', () => {
  it('writes seconds the way a person does, largest unit first', () => {
    const cases: Array<[number, string]> = [
      [0, '0s'],
      [1, '1s'],
      [59, '59s'],
      [60, '1m'],
      [61, '1m1s'],
      [90, '1m30s'],
      [3600, '1h'],
      [5400, '1h30m'],
      [86400, '1d'],
      [90061, '1d1h1m1s'],
      [172801, '2d1s'],
    ];
    for (const [seconds, text] of cases) expect(formatDuration(seconds), String(seconds)).to.equal(text);
  });

  it('round-trips through parseDuration', () => {
    for (const seconds of [0, 1, 59, 60, 3599, 3600, 5400, 86399, 86400, 90061, 1_000_000]) {
      expect(parseDuration(formatDuration(seconds))).to.equal(seconds);
    }
  });
});
