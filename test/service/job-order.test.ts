/** pageByKey: a page of an order, by heap selection or by sorting, is the same page a full sort gives. */
import { expect } from 'chai';
import fc from 'fast-check';
import { pageByKey } from '../../src/service/job-order.js';

/** The page by the obvious method: sort every candidate by (key, position). */
function byFullSort(candidates: number[], keys: Float64Array, offset: number, limit: number): number[] {
  return [...candidates].sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : a - b)).slice(offset, offset + limit);
}

describe('pageByKey', function () {
  it('gives the page a full sort gives, with ties and Infinity in position order, for any offset and limit', function () {
    // Few distinct keys, so ties are common; Infinity stands for jobs without the field.
    const key = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constant(Infinity));
    fc.assert(
      fc.property(fc.array(key, { maxLength: 300 }), fc.nat(400), fc.integer({ min: 1, max: 120 }), fc.boolean(), (values, offset, limit, filtered) => {
        const keys = Float64Array.from(values);
        const positions = values.map((_, i) => i).filter((i) => !filtered || i % 3 !== 0);
        expect(pageByKey(positions, keys, offset, limit)).to.deep.equal(byFullSort(positions, keys, offset, limit));
      }),
      { numRuns: 500 },
    );
  });

  it('takes the heap path for a first page of many jobs, and the sort path for a deep one', function () {
    const n = 20_000;
    const keys = Float64Array.from({ length: n }, (_, i) => (i * 7919) % 1000);
    const all = Array.from({ length: n }, (_, i) => i);
    expect(pageByKey(all, keys, 0, 100)).to.deep.equal(byFullSort(all, keys, 0, 100));
    expect(pageByKey(all, keys, 15_000, 100)).to.deep.equal(byFullSort(all, keys, 15_000, 100));
    expect(pageByKey(all, keys, n, 100)).to.deep.equal([]);
  });
});
