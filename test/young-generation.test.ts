/**
 * The young generation's hold (src/young-generation.ts), in a fresh node process each (mocha's own heap has
 * long grown its semi-spaces): held, a churn of surviving objects leaves new space at its initial size;
 * released, the same churn grows it as V8 does by default; a large config file releases it before the load.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { removeDir, tempDir } from './helpers/daemon-process.js';

const MODULE = fileURLToPath(new URL('../src/young-generation.js', import.meta.url));

/** Runs `steps` (JS using hold/release/releaseForLargeConfig/churn/newSpaceMiB) in a new node with `nodeArgs`; returns `out`. */
async function inFreshNode(steps: string, nodeArgs: string[] = []): Promise<number[]> {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { holdYoungGeneration as hold, releaseYoungGeneration as release, releaseForLargeConfig } from ${JSON.stringify(MODULE)};
    const newSpaceMiB = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576;
    // Objects that survive a scavenge or two, as a module load's do.
    let keep = [];
    const churn = () => { for (let i = 0; i < 400000; i++) { keep.push({ i, a: [i] }); if (keep.length > 100000) keep = []; } };
    const out = [];
    ${steps}
    console.log(JSON.stringify(out));`;
  const { stdout } = await promisify(execFile)(process.execPath, [...nodeArgs, '--input-type=module', '-e', script]);
  return JSON.parse(stdout) as number[];
}

describe('young generation held while the daemon starts', function () {
  this.timeout(60_000);

  it('stays at its initial size while held, and grows again once released', async () => {
    const [held, released] = await inFreshNode('hold(); churn(); out.push(newSpaceMiB()); release(); churn(); churn(); out.push(newSpaceMiB());');
    expect(held, 'new space while held, MiB').to.be.at.most(2);
    expect(released, 'new space after release, MiB').to.be.above(held! * 2);
  });

  it('is released by a large config file, kept for a small one, and not held when the user sets the growth factor', async () => {
    const dir = await tempDir();
    try {
      const small = join(dir, 'small.yaml');
      const large = join(dir, 'large.yaml');
      await writeFile(small, 'version: 1\njobs: {}\n');
      await writeFile(large, `version: 1\njobs:\n${'  # padding\n'.repeat(10_000)}`);
      const [keptForSmall, releasedForLarge] = await inFreshNode(
        `hold(); releaseForLargeConfig(${JSON.stringify(small)}); churn(); out.push(newSpaceMiB()); releaseForLargeConfig(${JSON.stringify(large)}); churn(); churn(); out.push(newSpaceMiB());`,
      );
      expect(keptForSmall).to.be.at.most(2);
      expect(releasedForLarge).to.be.above(keptForSmall! * 2);
      const [userFactor] = await inFreshNode('hold(); churn(); out.push(newSpaceMiB());', ['--semi-space-growth-factor=4']);
      expect(userFactor, 'the user\'s factor, not our hold').to.be.above(2);
    } finally {
      await removeDir(dir);
    }
  });
});
