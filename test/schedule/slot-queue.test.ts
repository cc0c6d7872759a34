import { expect } from 'chai';
import { SlotQueue } from '../../src/schedule/slot-queue.js';

function drain(queue: SlotQueue): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (let e = queue.pop(); e !== undefined; e = queue.pop()) out.push([e.jobId, e.at]);
  return out;
}

describe('SlotQueue', () => {
  it('pops in slot order, equal slots first-in first-out', () => {
    const queue = new SlotQueue();
    queue.push('c', 30);
    queue.push('a', 10);
    queue.push('b2', 20);
    queue.push('b1', 20);
    queue.push('d', 5);
    expect(drain(queue)).to.deep.equal([['d', 5], ['a', 10], ['b2', 20], ['b1', 20], ['c', 30]]);
    expect(queue.size).to.equal(0);
  });

  it('sorts a large random set like Array.sort does', () => {
    const queue = new SlotQueue();
    let seed = 7;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const expected: Array<[string, number]> = [];
    for (let i = 0; i < 5000; i++) {
      const at = rand() % 100_000;
      queue.push(`job-${i}`, at);
      expected.push([`job-${i}`, at]);
    }
    // Stable sort by slot: ties keep insertion order, as in the queue.
    expected.sort((x, y) => x[1] - y[1]);
    expect(drain(queue)).to.deep.equal(expected);
  });

  it('keeps one live entry per job: a push replaces, the stale entry is dropped', () => {
    const queue = new SlotQueue();
    queue.push('a', 10);
    queue.push('b', 20);
    queue.push('a', 30);
    expect(queue.size).to.equal(2);
    expect(queue.storedEntries).to.equal(3);
    expect(queue.peek()).to.include({ jobId: 'b', at: 20 });
    expect(drain(queue)).to.deep.equal([['b', 20], ['a', 30]]);
  });

  it('deletes lazily, and a job added again is not confused with its stale entry', () => {
    const queue = new SlotQueue();
    queue.push('a', 10);
    queue.push('b', 20);
    expect(queue.delete('a')).to.equal(true);
    expect(queue.delete('a')).to.equal(false);
    expect(queue.has('a')).to.equal(false);
    expect(queue.peek()).to.include({ jobId: 'b' });
    queue.push('a', 40);
    expect(drain(queue)).to.deep.equal([['b', 20], ['a', 40]]);
  });

  it('pops every due entry and only those', () => {
    const queue = new SlotQueue();
    for (const [id, at] of [['a', 100], ['b', 200], ['c', 200], ['d', 201]] as const) queue.push(id, at);
    queue.delete('c');
    expect(queue.popDue(99)).to.deep.equal([]);
    expect(queue.popDue(200).map((e) => e.jobId)).to.deep.equal(['a', 'b']);
    expect(queue.size).to.equal(1);
    expect(queue.peek()).to.include({ jobId: 'd' });
  });

  it('compacts stale entries that would never reach the top', () => {
    const queue = new SlotQueue();
    queue.push('soon', 1);
    // A far-future job rescheduled many times leaves stale entries behind the live head.
    for (let i = 0; i < 10_000; i++) queue.push('far', 1_000_000 + i);
    expect(queue.size).to.equal(2);
    expect(queue.storedEntries).to.be.at.most(2048);
    expect(drain(queue)).to.deep.equal([['soon', 1], ['far', 1_009_999]]);
  });

  /** What the buckets really hold (live and stale), not the queue's own count of it. */
  function held(queue: SlotQueue): { entries: number; slots: number } {
    // Bracket access reaches the private map: the count must not come from the code under test.
    const buckets = queue['buckets'] as Map<number, { entries: unknown[]; start: number }>;
    let entries = 0;
    for (const bucket of buckets.values()) entries += bucket.entries.length - bucket.start;
    return { entries, slots: buckets.size };
  }

  describe('after compaction', () => {
    /** 1,100 live jobs pushed at non-increasing slots, then rescheduled until stale entries trigger compaction. */
    function compacted(): { queue: SlotQueue; expected: Array<[string, number]> } {
      const queue = new SlotQueue();
      const slots = new Map<string, number>();
      for (let i = 0; i < 1100; i++) {
        const at = 10_000 - 5 * Math.floor(i / 2);
        queue.push(`job-${i}`, at);
        slots.set(`job-${i}`, at);
      }
      // Each reschedule leaves a stale entry; the 1,101st push past 2 x 1,100 compacts.
      for (let i = 0; i < 1101; i++) {
        const at = 50_000 - 7 * i;
        queue.push(`job-${i % 1100}`, at);
        slots.set(`job-${i % 1100}`, at);
      }
      const expected = [...slots].sort((x, y) => x[1] - y[1]);
      return { queue, expected };
    }

    it('pops jobs in slot order although their slots were added in decreasing order', () => {
      const { queue, expected } = compacted();
      expect(queue.storedEntries).to.be.below(2200);
      expect(drain(queue)).to.deep.equal(expected);
    });

    it('popDue returns every due job in slot order', () => {
      const { queue, expected } = compacted();
      const cut = expected[600]![1];
      const due = queue.popDue(cut).map((e): [string, number] => [e.jobId, e.at]);
      expect(due).to.deep.equal(expected.filter(([, at]) => at <= cut));
      expect(drain(queue)).to.deep.equal(expected.filter(([, at]) => at > cut));
    });

    it('releases the stale entries from the buckets, not only from the count', () => {
      const { queue } = compacted();
      expect(queue.storedEntries).to.equal(1100);
      // One live entry per job, each on a slot of its own: nothing stale is left.
      expect(held(queue)).to.deep.equal({ entries: 1100, slots: 1100 });
    });

    it('can be triggered by deleting jobs', () => {
      const queue = new SlotQueue();
      for (let i = 0; i < 2000; i++) queue.push(`job-${i}`, 1000 + i);
      expect(held(queue).entries).to.equal(2000);
      for (let i = 0; i < 1500; i++) queue.delete(`job-${i}`);
      expect(queue.size).to.equal(500);
      // Compacted when the live count fell below half of what was held; the entries deleted since stay until they come up.
      expect(queue.storedEntries).to.be.below(1024);
      expect(held(queue).entries).to.equal(queue.storedEntries);
      expect(drain(queue).map(([id]) => id)).to.deep.equal(Array.from({ length: 500 }, (_, i) => `job-${1500 + i}`));
    });
  });

  it('keeps storedEntries equal to what the buckets hold through peek, pop and popDue', () => {
    const queue = new SlotQueue();
    const check = () => expect(queue.storedEntries, 'storedEntries').to.equal(held(queue).entries);
    for (const [id, at] of [['a', 10], ['b', 10], ['c', 20], ['d', 30], ['e', 30], ['f', 40]] as const) queue.push(id, at);
    queue.push('a', 50);
    queue.delete('c');
    check();
    // peek drops the stale entries it passes over.
    expect(queue.peek()).to.include({ jobId: 'b', at: 10 });
    check();
    expect(queue.storedEntries).to.equal(6);
    expect(queue.pop()).to.include({ jobId: 'b' });
    check();
    expect(queue.storedEntries).to.equal(5);
    expect(queue.popDue(30).map((e) => e.jobId)).to.deep.equal(['d', 'e']);
    check();
    expect(queue.storedEntries).to.equal(2);
    expect(drain(queue)).to.deep.equal([['f', 40], ['a', 50]]);
    check();
    expect(queue.storedEntries).to.equal(0);
  });

  it('clears', () => {
    const queue = new SlotQueue();
    queue.push('a', 1);
    queue.clear();
    expect(queue.size).to.equal(0);
    expect(queue.pop()).to.equal(undefined);
  });

  it('lists live jobs in slot order, one slot\'s in id order, without changing the queue', () => {
    const q = new SlotQueue();
    q.push('c', 2000);
    q.push('b', 1000);
    q.push('a', 2000);
    q.push('d', 500);
    q.push('d', 3000); // rescheduled: its entry at 500 is stale
    q.push('e', 1500);
    q.delete('e');
    expect([...q.inSlotOrder()]).to.deep.equal(['b', 'a', 'c', 'd']);
    expect(q.size).to.equal(4);
    expect(q.popDue(2000).map((e) => e.jobId)).to.deep.equal(['b', 'c', 'a']);
    expect([...q.inSlotOrder()]).to.deep.equal(['d']);
  });
});
