import { expect } from 'chai';
import { TurnSlicer } from '../../src/service/turn-slicer.js';

describe('TurnSlicer', () => {
  it('runs tasks in order, a slice per turn, so other callbacks run between slices', async () => {
    const errors: unknown[] = [];
    const slicer = new TurnSlicer(250, (e) => errors.push(e));
    const log: string[] = [];
    for (let i = 0; i < 1000; i++) slicer.push(() => log.push(`t${i}`));
    // Queued before any slice ran: it must run after the first slice, not after all 1,000 tasks.
    const between = new Promise<void>((resolve) => setImmediate(() => setImmediate(() => {
      log.push('other');
      resolve();
    })));
    await between;
    await new Promise((resolve) => setTimeout(resolve, 20));
    const other = log.indexOf('other');
    expect(other, 'a callback queued meanwhile ran between slices').to.be.within(250, 750);
    expect(log.filter((x) => x !== 'other')).to.deep.equal(Array.from({ length: 1000 }, (_, i) => `t${i}`));
    expect(errors).to.deep.equal([]);
  });

  it('reports a throwing task and goes on with the rest', async () => {
    const errors: unknown[] = [];
    const slicer = new TurnSlicer(2, (e) => errors.push(e));
    const ran: number[] = [];
    slicer.push(() => ran.push(1));
    slicer.push(() => {
      throw new Error('boom');
    });
    slicer.push(() => ran.push(3));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ran).to.deep.equal([1, 3]);
    expect(errors.map((e) => (e as Error).message)).to.deep.equal(['boom']);
  });
});
