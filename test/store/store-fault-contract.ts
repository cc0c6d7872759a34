/**
 * What every Store does when its disk (or database) refuses a write: the write rejects with
 * STORE_UNAVAILABLE and nothing of it is applied, not in memory now, not on disk after space comes
 * back and a later write succeeds, not after a restart. Run over a workload of every kind of write,
 * with the disk failing from its Nth write on and at its Nth write only, for every N.
 */
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FINISHED_STATUSES, type Execution } from '../../src/jobs/execution.js';
import type { Job } from '../../src/jobs/job.js';
import type { JobState, Store } from '../../src/store/store.js';
import { FailingDisk } from './failing-disk.js';
import { finished, makeExecution, makeJob } from './store-contract.js';

const JOB_IDS = ['a', 'b', 'c', 'z'];
const HISTORY = 2;

/** What the store must hold: only what it acknowledged. */
class Model {
  jobs = new Map<string, Job>();
  states = new Map<string, JobState>();
  executions = new Map<string, Map<string, Execution>>();

  addExecution(e: Execution, limit: number): void {
    let m = this.executions.get(e.job_id);
    if (!m) this.executions.set(e.job_id, (m = new Map()));
    m.set(e.id, e);
    // The store's trim: oldest finished first, never the one just added.
    let excess = m.size - limit;
    for (const old of [...m.values()].sort((x, y) => (x.id < y.id ? -1 : 1))) {
      if (excess <= 0) break;
      if (old.id !== e.id && FINISHED_STATUSES.has(old.status)) {
        m.delete(old.id);
        excess--;
      }
    }
  }

  deleteJob(id: string): void {
    this.jobs.delete(id);
    this.states.delete(id);
    this.executions.delete(id);
  }
}

/** One step of the workload: its writes, and what it changes once acknowledged. */
interface Step {
  name: string;
  /** Started in the same turn: they share one write. */
  ops: Array<{ run: (store: Store) => Promise<void>; apply: (model: Model) => void }>;
}

function workload(): Step[] {
  const a = makeJob('a');
  const a2 = makeJob('a', { name: 'renamed' });
  const b = makeJob('b');
  const e1 = makeExecution('a', { status: 'in_progress', started_at: '2024-01-02T03:04:05.000Z' });
  const e2 = makeExecution('a');
  const e3 = makeExecution('b', { status: 'skipped' });
  const e1done = finished(e1);
  const e4 = makeExecution('a', { status: 'in_progress', started_at: '2024-01-02T03:05:05.000Z' });
  const e2done = finished(e2, 'failure');
  const e5 = makeExecution('a');
  const op = (run: (s: Store) => Promise<void>, apply: (m: Model) => void) => ({ run, apply });
  const state = (id: string, patch: JobState) =>
    op((s) => s.saveJobState(id, patch), (m) => m.states.set(id, { ...m.states.get(id), ...patch }));
  const add = (e: Execution) => op((s) => s.addExecution(e, HISTORY), (m) => m.addExecution(e, HISTORY));
  const update = (e: Execution) =>
    op((s) => s.updateExecution(e), (m) => {
      if (m.executions.get(e.job_id)?.has(e.id)) m.executions.get(e.job_id)!.set(e.id, e);
    });
  const save = (j: Job) => op((s) => s.saveApiJob(j), (m) => m.jobs.set(j.id, j));
  const del = (id: string) => op((s) => s.deleteJob(id), (m) => m.deleteJob(id));
  return [
    { name: 'create a', ops: [save(a)] },
    { name: 'pause a', ops: [state('a', { paused: true })] },
    { name: 'start e1', ops: [add(e1)] },
    { name: 'three changes in one turn', ops: [add(e2), add(e3), state('b', { last_slot: '2024-01-02T03:00:00.000Z' })] },
    { name: 'finish e1', ops: [update(e1done)] },
    { name: 'finish e2, start e4 (trims e1)', ops: [update(e2done), add(e4)] },
    { name: 'add e5 (trims e2)', ops: [add(e5)] },
    { name: 'update a (PUT)', ops: [save(a2)] },
    { name: 'config job c seen', ops: [state('c', { fingerprint: 'f1', created_at: '2024-01-01T00:00:00.000Z', updated_at: '2024-01-01T00:00:00.000Z' })] },
    { name: 'create b', ops: [save(b)] },
    { name: 'delete b', ops: [del('b')] },
    { name: 'delete config job c', ops: [del('c')] },
    { name: 'resume a', ops: [state('a', { paused: false })] },
  ];
}

/** Checks that the store shows exactly what the model holds. */
function expectSame(store: Store, model: Model, when: string): void {
  const sortJobs = (jobs: Job[]) => [...jobs].sort((x, y) => (x.id < y.id ? -1 : 1));
  expect(sortJobs(store.apiJobs()), `${when}: API jobs`).to.deep.equal(sortJobs([...model.jobs.values()]));
  for (const id of JOB_IDS) {
    expect(store.jobState(id), `${when}: state of ${id}`).to.deep.equal(model.states.get(id) ?? {});
    const want = [...(model.executions.get(id)?.values() ?? [])].sort((x, y) => (x.id < y.id ? 1 : -1));
    expect(store.listExecutions(id, { limit: 100, offset: 0 }).items, `${when}: executions of ${id}`).to.deep.equal(want);
  }
  const unfinished = [...model.executions.values()].flatMap((m) => [...m.values()]).filter((e) => !FINISHED_STATUSES.has(e.status));
  expect(store.unfinishedExecutions().map((e) => e.id), `${when}: unfinished (no ghost in progress)`).to.deep.equal(
    unfinished.map((e) => e.id).sort(),
  );
}

/**
 * Registers the fault contract for the implementation `makeStore` builds on a data dir, consulting
 * `disk.fault()` before each write that takes space.
 */
export function describeStoreFaultContract(name: string, makeStore: (dir: string, disk: FailingDisk | undefined) => Store): void {
  describe(`Store fault contract: ${name}`, function () {
    this.timeout(120_000);
    let root: string;

    beforeEach(async () => {
      root = await mkdtemp(join(tmpdir(), 'watchbell-store-faults-'));
    });

    afterEach(async () => {
      await rm(root, { recursive: true, force: true });
    });

    /** Runs the workload on a fresh dir; returns how many writes it asked for. */
    async function run(dir: string, disk: FailingDisk): Promise<number> {
      const store = makeStore(dir, disk);
      await store.open();
      disk.start();
      const model = new Model();
      let refused = 0;
      for (const step of workload()) {
        const results = await Promise.allSettled(step.ops.map((o) => o.run(store)));
        results.forEach((r, i) => {
          if (r.status === 'fulfilled') step.ops[i]!.apply(model);
          else {
            refused++;
            expect((r.reason as { code?: string }).code, `${step.name}: a refused write says why`).to.equal('STORE_UNAVAILABLE');
          }
        });
        expectSame(store, model, `after "${step.name}" (write ${disk.writes})`);
      }
      // Space is back: one good write must not carry anything refused to disk.
      disk.heal();
      const z = makeJob('z');
      await store.saveApiJob(z);
      model.jobs.set('z', z);
      const ez = makeExecution('z');
      await store.addExecution(ez, HISTORY);
      model.addExecution(ez, HISTORY);
      expectSame(store, model, 'after space came back');
      await store.close();
      const again = makeStore(dir, undefined);
      await again.open();
      try {
        expectSame(again, model, `after a restart (${refused} writes refused)`);
      } finally {
        await again.close();
      }
      return disk.writes;
    }

    it('applies nothing of a refused write, for a disk full from its Nth write on, for every N', async () => {
      const total = await run(join(root, 'clean'), new FailingDisk());
      expect(total, 'writes in the workload').to.be.greaterThan(10);
      for (let n = 1; n <= total; n++) {
        const disk = new FailingDisk();
        disk.fillAt(n);
        await run(join(root, `full-${n}`), disk);
      }
    });

    it('applies nothing of a refused write, for a disk that fails its Nth write only, for every N', async () => {
      const total = await run(join(root, 'clean'), new FailingDisk());
      for (let n = 1; n <= total; n++) {
        const disk = new FailingDisk();
        disk.failOnlyAt(n);
        await run(join(root, `once-${n}`), disk);
      }
    });
  });
}
