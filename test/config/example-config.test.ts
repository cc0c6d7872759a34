import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { expect } from 'chai';
import { loadConfig } from '../../src/config/load-config.js';

/** The repository root: tests run from dist/test/config/, sources from test/config/. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}

describe('config/watchbell.yaml (the shipped example)', () => {
  const root = repoRoot();
  const file = join(root, 'config', 'watchbell.yaml');

  it('loads without errors', async () => {
    const config = await loadConfig(file, { env: {} });
    expect(config.file).to.equal(resolve(file));
    // `../data` next to config/ is ./data in the repository.
    expect(config.daemon.data_dir).to.equal(join(root, 'data'));
    expect(config.daemon.listen).to.equal('127.0.0.1:8080');
  });

  it('has 2 or 3 jobs, one of which runs every minute', async () => {
    const { jobs } = await loadConfig(file, { env: {} });
    expect(jobs.length).to.be.within(2, 3);
    const everyMinute = jobs.filter((j) => j.spec.schedule === '* * * * *' || j.spec.schedule === '@every 1m' || j.spec.schedule === '@every 60s');
    expect(everyMinute.map((j) => j.id)).to.have.length(1);
    for (const job of jobs) expect(job.spec.name, job.id).to.be.a('string').and.not.equal('');
  });

  it('loads with the real environment too', async () => {
    const config = await loadConfig(file);
    expect(config.jobs.length).to.be.within(2, 3);
  });
});
