/**
 * The PostgreSQL store with its server stopped under it (a throwaway cluster, helpers/pg-cluster.ts):
 * a write that cannot commit rejects with STORE_UNAVAILABLE and leaves memory as it was (memory changes
 * only after the durable write); an execution's update waits, retried, and resolves once the server is
 * back and it has committed (acknowledged means committed); the store takes writes again without reopening.
 */
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WatchbellError } from '../../src/jobs/errors.js';
import { PgStore } from '../../src/store/postgres/pg-store.js';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';
import { finished, makeExecution, makeJob } from './store-contract.js';

const REQUIRED = process.env.CI === 'true' || process.env.WATCHBELL_REQUIRE_POSTGRES === '1';

async function rejection(p: Promise<unknown>): Promise<WatchbellError> {
  return p.then(() => expect.fail('expected a rejection'), (err: WatchbellError) => err);
}

describe('PgStore with its server stopped and started again', function () {
  this.timeout(120_000);
  let cluster: PgCluster | undefined;
  let dir: string;
  let store: PgStore | undefined;

  before(async function () {
    try {
      cluster = await startPgCluster();
    } catch (err) {
      const why = `cannot start a throwaway PostgreSQL cluster: ${(err as Error).message}`;
      if (REQUIRED) throw new Error(why);
      console.warn(`\n!!! SKIPPED: ${why} !!!\n`);
      this.skip();
    }
    dir = await mkdtemp(join(tmpdir(), 'watchbell-pg-outage-'));
  });

  after(async () => {
    await store?.close();
    await cluster?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('changes memory only after a commit, and records a run\'s end once the server is back', async () => {
    store = new PgStore({ url: `${cluster!.url}?schema=outage`, dataDir: dir });
    await store.open();
    await store.saveApiJob(makeJob('a'));
    await store.saveJobState('a', { paused: false });
    const running = makeExecution('a', { status: 'in_progress' });
    await store.addExecution(running, 10);
    expect(await store.isWritable()).to.equal(true);

    await cluster!.stop();
    expect(await store.isWritable()).to.equal(false);
    for (const [what, write] of [
      ['saveApiJob', () => store!.saveApiJob(makeJob('b'))],
      ['saveJobState', () => store!.saveJobState('a', { paused: true })],
      ['addExecution', () => store!.addExecution(makeExecution('a'), 10)],
      ['deleteJob', () => store!.deleteJob('a')],
    ] as const) {
      const err = await rejection(write());
      expect(err.code, what).to.equal('STORE_UNAVAILABLE');
      expect(err.message, what).to.include(`127.0.0.1:${cluster!.port}`);
    }
    expect(store.apiJobs().map((j) => j.id)).to.deep.equal(['a']);
    expect(store.jobState('a')).to.deep.equal({ paused: false });
    expect(store.listExecutions('a', { limit: 10, offset: 0 }).items.map((e) => e.id)).to.deep.equal([running.id]);

    // The end of a run is not refused: it waits until it has committed.
    let acknowledged = false;
    const end = store.updateExecution(finished(running)).then(() => (acknowledged = true));
    await new Promise((r) => setTimeout(r, 1000));
    expect(acknowledged).to.equal(false);
    expect(store.getExecution('a', running.id)!.status).to.equal('in_progress');

    await cluster!.start();
    await end;
    expect(store.getExecution('a', running.id)!.status).to.equal('success');
    await store.saveJobState('a', { paused: true });
    expect(store.jobState('a')).to.deep.equal({ paused: true });

    // What was acknowledged is what a fresh store reads.
    await store.close();
    store = new PgStore({ url: `${cluster!.url}?schema=outage`, dataDir: dir });
    await store.open();
    expect(store.getExecution('a', running.id)!.status).to.equal('success');
    expect(store.jobState('a')).to.deep.equal({ paused: true });
    expect(store.apiJobs().map((j) => j.id)).to.deep.equal(['a']);
  });
});
