/**
 * The idle trim of the young generation (src/young-generation-trim.ts), in a fresh node process each (mocha's
 * own heap is busy): a churn grows new space well past what a daemon at rest needs, and V8 keeps it so while
 * nothing is allocated; a trim, and the idle timer on its own, bring it back down.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const MODULE = fileURLToPath(new URL('../src/young-generation-trim.js', import.meta.url));
const MIB = 1024 * 1024;

/** Runs `steps` (JS with trim/whenIdle/churn/newSpaceMiB/idle(ms)) in a new node; returns its `out`. */
async function inFreshNode(steps: string): Promise<number[]> {
  const script = `
    import { newSpaceBytes, trimYoungGeneration as trim, trimYoungGenerationWhenIdle as whenIdle } from ${JSON.stringify(MODULE)};
    const newSpaceMiB = () => newSpaceBytes() / ${MIB};
    // Objects that survive a scavenge or two, as a burst of API requests' do.
    let keep = [];
    const churn = () => { for (let i = 0; i < 3000000; i++) { keep.push({ i, a: [i] }); if (keep.length > 100000) keep = []; } keep = []; };
    const idle = (ms) => new Promise((r) => setTimeout(r, ms));
    const out = [];
    ${steps}
    console.log(JSON.stringify(out));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
  return JSON.parse(stdout) as number[];
}

describe('young generation trimmed once the daemon is idle', function () {
  this.timeout(60_000);

  it('stays grown after a burst while nothing allocates, and a trim shrinks it', async () => {
    const [grown, stillGrown, trimmed, scavenges] = await inFreshNode(
      'churn(); out.push(newSpaceMiB()); await idle(1500); out.push(newSpaceMiB()); const n = await trim(); out.push(newSpaceMiB(), n);',
    );
    expect(grown, 'new space after the burst, MiB').to.be.above(8);
    expect(stillGrown, 'new space after 1.5 s of idleness without a trim, MiB').to.equal(grown);
    expect(trimmed, 'new space after the trim, MiB').to.be.at.most(6);
    expect(scavenges).to.be.within(1, 32);
  });

  it('is trimmed by the idle timer within seconds of the burst, and the timer keeps no process alive', async () => {
    // Polls for up to 10 s; the timer (unref'd) alone would let the process exit at once.
    const [grown, after] = await inFreshNode(
      'whenIdle(); churn(); out.push(newSpaceMiB()); for (let i = 0; i < 100 && newSpaceMiB() > 6; i++) await idle(100); out.push(newSpaceMiB());',
    );
    expect(grown).to.be.above(8);
    expect(after, 'new space a few idle seconds later, MiB').to.be.at.most(6);
  });
});
