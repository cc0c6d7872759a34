import { expect } from 'chai';
import { compactHeapAfterLoad, LARGE_CONFIG } from '../src/heap-compaction.js';

describe('compactHeapAfterLoad', () => {
  it('skips small configs, and collects after a large one, freeing what the load left behind', () => {
    expect(compactHeapAfterLoad(LARGE_CONFIG - 1)).to.equal(null);
    // Garbage of the kind a big load leaves: ~60 MB of short-lived objects, unreachable once made.
    let junk: unknown[] | null = Array.from({ length: 300_000 }, (_, i) => ({ id: `job-${i}`, spec: { schedule: '* * * * *', tags: [String(i)] } }));
    junk = null;
    const before = process.memoryUsage().heapUsed;
    const ms = compactHeapAfterLoad(LARGE_CONFIG);
    expect(ms).to.be.a('number');
    expect(process.memoryUsage().heapUsed, 'heap used after the collection').to.be.below(before);
    expect(junk).to.equal(null);
  });
});
