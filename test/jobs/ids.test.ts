import { expect } from 'chai';
import { isValidExecutionId, isValidJobId, JOB_ID_PATTERN, newExecutionId, newJobId } from '../../src/jobs/ids.js';

const B32 = '0123456789abcdefghjkmnpqrstvwxyz';

/** The milliseconds encoded in the 10 time characters after `exec-`. */
function timeOf(id: string): number {
  let t = 0;
  for (const ch of id.slice(5, 15)) t = t * 32 + B32.indexOf(ch);
  return t;
}

function expectStrictlyIncreasing(ids: string[]): void {
  for (let i = 1; i < ids.length; i++) {
    if (!(ids[i - 1]! < ids[i]!)) expect.fail(`id ${i} ${ids[i]} does not sort after id ${i - 1} ${ids[i - 1]}`);
  }
  expect([...ids].sort()).to.deep.equal(ids);
  expect(new Set(ids).size).to.equal(ids.length);
}

describe('isValidJobId', () => {
  it('publishes the pattern of DESIGN.md §2', () => {
    // DESIGN.md §2's pattern, with its "never .." rule folded in as a lookahead so JSON Schema can carry it.
    expect(JOB_ID_PATTERN).to.equal('^(?!.*\\.\\.)[a-z0-9][a-z0-9_.-]{0,62}$');
  });

  it('accepts lowercase letters, digits and _ . - after a letter or digit', () => {
    for (const id of ['a', '0', 'backup-database', 'report_2', 'v1.2.3', 'a-_.z', '9lives']) {
      expect(isValidJobId(id), id).to.equal(true);
    }
  });

  it('accepts 63 characters and rejects 64', () => {
    expect(isValidJobId('a'.repeat(63))).to.equal(true);
    expect(isValidJobId('a'.repeat(64))).to.equal(false);
  });

  it('rejects ".." anywhere', () => {
    expect(isValidJobId('a..b')).to.equal(false);
    expect(isValidJobId('a..')).to.equal(false);
    expect(isValidJobId('a.b.c')).to.equal(true);
  });

  it('rejects upper case, slashes, spaces and a bad first character', () => {
    for (const id of ['', 'Backup', 'backUp', 'a/b', 'a\\b', 'a b', '-a', '.a', '_a', '..', 'a\n', 'ä', 'a:b', 'a@b']) {
      expect(isValidJobId(id), JSON.stringify(id)).to.equal(false);
    }
  });

  it('rejects values that are not strings', () => {
    for (const id of [null, undefined, 1, {}, ['a']]) expect(isValidJobId(id)).to.equal(false);
  });
});

describe('newJobId', () => {
  it('is `job-` + 10 lowercase Crockford base32 characters and a valid job id', () => {
    for (let i = 0; i < 200; i++) {
      const id = newJobId();
      expect(id).to.match(/^job-[0-9a-hjkmnp-tv-z]{10}$/);
      expect(isValidJobId(id), id).to.equal(true);
    }
  });

  it('does not repeat', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newJobId()));
    expect(ids.size).to.equal(1000);
  });
});

describe('newExecutionId', () => {
  it('is `exec-` + 20 base32 characters', () => {
    const id = newExecutionId();
    expect(id).to.match(/^exec-[0-9a-hjkmnp-tv-z]{20}$/);
    expect(id).to.have.length(25);
    expect(isValidExecutionId(id)).to.equal(true);
  });

  it('encodes the creation time in its first 10 characters', () => {
    const before = Date.now();
    const id = newExecutionId();
    const after = Date.now();
    expect(timeOf(id)).to.be.within(before, after);
  });

  it('sorts by creation for 10,000 ids made in a tight loop', () => {
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i++) ids.push(newExecutionId());
    expectStrictlyIncreasing(ids);
  });

  it('sorts by creation for 10,000 ids made in the same millisecond', () => {
    const now = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i++) ids.push(newExecutionId(now));
    expectStrictlyIncreasing(ids);
  });

  it('keeps sorting by creation when the clock goes backwards', () => {
    const now = Date.now();
    const ids = [
      newExecutionId(now),
      newExecutionId(now - 1),
      newExecutionId(now - 60_000),
      newExecutionId(now - 3_600_000),
      newExecutionId(now - 60_000),
      newExecutionId(now),
    ];
    expectStrictlyIncreasing(ids);
    // Time never runs backwards in ids: the later ones keep the latest time seen.
    expect(timeOf(ids[3]!)).to.be.at.least(now);
  });
});

describe('isValidExecutionId', () => {
  it('rejects other shapes and path tricks', () => {
    for (const id of ['', 'exec-', 'exec-abc', `exec-${'a'.repeat(21)}`, `job-${'a'.repeat(20)}`, `exec-${'A'.repeat(20)}`, `exec-../${'a'.repeat(17)}`, null, 5]) {
      expect(isValidExecutionId(id), String(id)).to.equal(false);
    }
  });
});
