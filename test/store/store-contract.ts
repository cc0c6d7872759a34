/** The behaviour every Store implementation must have; each implementation's test file runs it. */
import { expect } from 'chai';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { logRoute, type Execution } from '../../src/jobs/execution.js';
import { newExecutionId } from '../../src/jobs/ids.js';
import { JOB_DEFAULTS, type Job } from '../../src/jobs/job.js';
import type { Store } from '../../src/store/store.js';

/** A queued execution of `jobId` with a fresh (hence newest) id. */
export function makeExecution(jobId: string, overrides: Partial<Execution> = {}): Execution {
  const id = overrides.id ?? newExecutionId();
  return {
    id,
    job_id: jobId,
    status: 'queued',
    trigger: 'manual',
    scheduled_at: null,
    started_at: null,
    finished_at: null,
    duration: null,
    exit_code: null,
    signal: null,
    reason: null,
    output: '',
    error: null,
    retry_count: 0,
    attempts: [],
    log_route: logRoute(jobId, id),
    ...overrides,
  };
}

/** A finished copy of `e`. */
export function finished(e: Execution, status: Execution['status'] = 'success'): Execution {
  return {
    ...e,
    status,
    started_at: '2024-01-02T03:04:05.000Z',
    finished_at: '2024-01-02T03:04:06.500Z',
    duration: 1.5,
    exit_code: status === 'success' ? 0 : 1,
    reason: 'exit',
    output: 'done\n',
    attempts: [
      { started_at: '2024-01-02T03:04:05.000Z', finished_at: '2024-01-02T03:04:06.500Z', exit_code: 0, signal: null, reason: 'exit', error: null },
    ],
  };
}

/** An API job. */
export function makeJob(id: string, overrides: Partial<Job> = {}): Job {
  return {
    ...JOB_DEFAULTS,
    tags: ['t'],
    environment: { A: '1' },
    id,
    source: 'api',
    name: id,
    schedule: '*/5 * * * *',
    command: 'echo hi',
    status: 'active',
    created_at: '2024-01-01T00:00:00.000Z',
    updated_at: '2024-01-01T00:00:00.000Z',
    ...overrides,
  };
}

/** True when something is at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Creates the log files of an execution, as the runner would. */
async function touchLog(store: Store, jobId: string, executionId: string): Promise<string> {
  const path = store.logPath(jobId, executionId);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, 'output\n');
  await writeFile(`${path}.idx`, 'o 7\n');
  return path;
}

const ids = (items: Execution[]) => items.map((e) => e.id);

/** Registers the Store contract suite for the implementation `makeStore` builds on a data dir. */
export function describeStoreContract(name: string, makeStore: (dir: string) => Store): void {
  describe(`Store contract: ${name}`, () => {
    let root: string;
    let dir: string;
    let opened: Store[] = [];

    async function openStore(): Promise<Store> {
      const store = makeStore(dir);
      opened.push(store);
      await store.open();
      return store;
    }

    /** Closes `store` and opens a new instance on the same dir, as a restarted daemon would. */
    async function reopen(store: Store): Promise<Store> {
      await store.close();
      return openStore();
    }

    beforeEach(async () => {
      root = await mkdtemp(join(tmpdir(), 'watchbell-store-'));
      dir = root;
    });

    afterEach(async () => {
      for (const store of opened) await store.close();
      opened = [];
      await rm(root, { recursive: true, force: true });
    });

    describe('opening and closing', () => {
      it('starts empty on an empty dir, and open() and close() are idempotent', async () => {
        const store = await openStore();
        await store.open();
        expect(store.apiJobs()).to.deep.equal([]);
        expect(store.jobState('nope')).to.deep.equal({});
        expect(store.listAllExecutions({ limit: 10, offset: 0 })).to.deep.equal({ items: [], total: 0 });
        expect(store.unfinishedExecutions()).to.deep.equal([]);
        await store.close();
        await store.close();
      });

      it('creates a data dir that does not exist yet', async () => {
        dir = join(dir, 'nested', 'data');
        const store = await openStore();
        await store.saveJobState('a', { paused: true });
        expect((await reopen(store)).jobState('a')).to.deep.equal({ paused: true });
      });

      it('close() waits for writes that are still pending', async () => {
        const store = await openStore();
        const e = makeExecution('a');
        const writes = [store.addExecution(e, 10), store.saveJobState('a', { last_slot: '2024-01-01T00:00:00.000Z' })];
        await store.close();
        await Promise.all(writes);
        const again = await openStore();
        expect(again.getExecution('a', e.id)).to.deep.equal(e);
        expect(again.jobState('a')).to.deep.equal({ last_slot: '2024-01-01T00:00:00.000Z' });
      });
    });

    describe('API jobs', () => {
      it('saves, lists and replaces API jobs by id', async () => {
        const store = await openStore();
        await store.saveApiJob(makeJob('a'));
        await store.saveApiJob(makeJob('b'));
        await store.saveApiJob(makeJob('a', { name: 'renamed', updated_at: '2024-02-01T00:00:00.000Z' }));
        const jobs = store.apiJobs();
        expect(jobs.map((j) => j.id)).to.have.members(['a', 'b']);
        expect(jobs.find((j) => j.id === 'a')).to.deep.equal(makeJob('a', { name: 'renamed', updated_at: '2024-02-01T00:00:00.000Z' }));
      });

      it('keeps its own copies: changing a saved or a returned job does not change the store', async () => {
        const store = await openStore();
        const job = makeJob('a');
        await store.saveApiJob(job);
        job.status = 'paused';
        job.tags.push('x');
        const returned = store.apiJobs()[0]!;
        returned.name = 'changed';
        expect(store.apiJobs()[0]).to.deep.equal(makeJob('a'));
      });

      it('keeps the definitions across a restart', async () => {
        const store = await openStore();
        await store.saveApiJob(makeJob('a', { command: ['sh', '-c', 'echo "x"'] }));
        await store.saveApiJob(makeJob('123'));
        const again = await reopen(store);
        expect(again.apiJobs()).to.have.deep.members([makeJob('a', { command: ['sh', '-c', 'echo "x"'] }), makeJob('123')]);
      });
    });

    describe('job state', () => {
      it('merges patches into the state, keeping other fields, across a restart', async () => {
        const store = await openStore();
        await store.saveJobState('cfg', { paused: true, fingerprint: 'f1' });
        await store.saveJobState('cfg', { last_slot: '2024-01-01T00:00:00.000Z' });
        await store.saveJobState('cfg', { paused: false });
        const want = { paused: false, fingerprint: 'f1', last_slot: '2024-01-01T00:00:00.000Z' };
        expect(store.jobState('cfg')).to.deep.equal(want);
        expect((await reopen(store)).jobState('cfg')).to.deep.equal(want);
      });

      it('returns a copy of the state', async () => {
        const store = await openStore();
        await store.saveJobState('cfg', { paused: true });
        store.jobState('cfg').paused = false;
        expect(store.jobState('cfg')).to.deep.equal({ paused: true });
      });
    });

    describe('executions', () => {
      it('adds, gets and updates an execution', async () => {
        const store = await openStore();
        const e = makeExecution('a');
        await store.addExecution(e, 10);
        expect(store.getExecution('a', e.id)).to.deep.equal(e);
        const running = { ...e, status: 'in_progress' as const, started_at: '2024-01-02T03:04:05.000Z' };
        await store.updateExecution(running);
        expect(store.getExecution('a', e.id)).to.deep.equal(running);
        await store.updateExecution(finished(running));
        expect(store.getExecution('a', e.id)).to.deep.equal(finished(running));
        expect(store.getExecution('b', e.id)).to.equal(undefined);
        expect(store.getExecution('a', newExecutionId())).to.equal(undefined);
      });

      it('keeps the object it is given, frozen: changing it afterwards throws instead of changing the history unseen', async () => {
        const store = await openStore();
        const e = makeExecution('a');
        await store.addExecution(e, 10);
        expect(() => {
          e.status = 'failure';
        }).to.throw(TypeError);
        expect(store.getExecution('a', e.id)!.status).to.equal('queued');
        const done = finished({ ...e, status: 'queued' });
        await store.updateExecution(done);
        expect(() => {
          done.attempts[0]!.exit_code = 99;
        }).to.throw(TypeError);
        expect(store.getExecution('a', e.id)!.attempts[0]!.exit_code).to.equal(0);
      });

      it('ignores an update of an execution it does not hold (its job was deleted meanwhile)', async () => {
        const store = await openStore();
        await store.updateExecution(finished(makeExecution('gone')));
        expect(store.listAllExecutions({ limit: 10, offset: 0 }).total).to.equal(0);
      });

      it('finds the latest execution, optionally filtered', async () => {
        const store = await openStore();
        const a = finished(makeExecution('a'));
        const b = finished(makeExecution('a'), 'failure');
        const c = makeExecution('a', { status: 'in_progress' });
        for (const e of [a, b, c]) await store.addExecution(e, 10);
        expect(store.latestExecution('a')!.id).to.equal(c.id);
        expect(store.latestExecution('a', (e) => e.status === 'success')!.id).to.equal(a.id);
        expect(store.latestExecution('a', (e) => e.status === 'cancelled')).to.equal(undefined);
        expect(store.latestExecution('b')).to.equal(undefined);
      });

      it('lists a job\'s executions newest first, with status, limit, offset and total', async () => {
        const store = await openStore();
        const all: Execution[] = [];
        for (let i = 0; i < 7; i++) {
          const e = i % 3 === 0 ? finished(makeExecution('a'), 'failure') : finished(makeExecution('a'));
          all.push(e);
          await store.addExecution(e, 100);
        }
        await store.addExecution(finished(makeExecution('other')), 100);
        const newest = [...all].reverse();
        expect(store.listExecutions('a', { limit: 10, offset: 0 })).to.deep.equal({ items: newest, total: 7 });
        expect(ids(store.listExecutions('a', { limit: 2, offset: 3 }).items)).to.deep.equal(ids(newest.slice(3, 5)));
        const failures = newest.filter((e) => e.status === 'failure');
        expect(store.listExecutions('a', { status: 'failure', limit: 10, offset: 0 })).to.deep.equal({ items: failures, total: 3 });
        expect(store.listExecutions('a', { status: 'failure', limit: 1, offset: 1 })).to.deep.equal({ items: [failures[1]], total: 3 });
        expect(store.listExecutions('a', { status: 'skipped', limit: 10, offset: 0 })).to.deep.equal({ items: [], total: 0 });
        expect(store.listExecutions('a', { limit: 10, offset: 50 })).to.deep.equal({ items: [], total: 7 });
        expect(store.listExecutions('none', { limit: 10, offset: 0 })).to.deep.equal({ items: [], total: 0 });
      });

      it('sorts by id even when an older execution is added late', async () => {
        const store = await openStore();
        const older = makeExecution('a');
        const newer = makeExecution('a');
        await store.addExecution(newer, 10);
        await store.addExecution(older, 10);
        expect(ids(store.listExecutions('a', { limit: 10, offset: 0 }).items)).to.deep.equal([newer.id, older.id]);
      });

      it('trims history to the limit on insert, deleting the trimmed executions\' logs', async () => {
        const store = await openStore();
        const all: Execution[] = [];
        const logs: string[] = [];
        for (let i = 0; i < 5; i++) {
          const e = finished(makeExecution('a'));
          all.push(e);
          logs.push(await touchLog(store, 'a', e.id));
          await store.addExecution(e, 3);
        }
        expect(ids(store.listExecutions('a', { limit: 10, offset: 0 }).items)).to.deep.equal(ids(all.slice(2).reverse()));
        expect(store.getExecution('a', all[0]!.id)).to.equal(undefined);
        for (const i of [0, 1]) {
          expect(await exists(logs[i]!), `log ${i}`).to.equal(false);
          expect(await exists(`${logs[i]}.idx`), `index ${i}`).to.equal(false);
        }
        for (const i of [2, 3, 4]) expect(await exists(logs[i]!), `log ${i}`).to.equal(true);
        // A smaller limit (the job was edited) trims at the next insert.
        await store.addExecution(finished(makeExecution('a')), 1);
        expect(store.listExecutions('a', { limit: 10, offset: 0 }).total).to.equal(1);
        expect((await reopen(store)).listExecutions('a', { limit: 10, offset: 0 }).total).to.equal(1);
      });

      it('never trims a queued or running execution, even past the limit', async () => {
        const store = await openStore();
        const running = makeExecution('a', { status: 'in_progress' });
        const queued = makeExecution('a');
        await store.addExecution(running, 2);
        await store.addExecution(queued, 2);
        const done = finished(makeExecution('a'));
        await store.addExecution(done, 2);
        expect(ids(store.listExecutions('a', { limit: 10, offset: 0 }).items)).to.deep.equal([done.id, queued.id, running.id]);
        const later = finished(makeExecution('a'));
        await store.addExecution(later, 2);
        expect(ids(store.listExecutions('a', { limit: 10, offset: 0 }).items)).to.deep.equal([later.id, queued.id, running.id]);
        await store.updateExecution(finished(running));
        await store.addExecution(finished(makeExecution('a')), 2);
        expect(store.getExecution('a', running.id)).to.equal(undefined);
        expect(store.getExecution('a', queued.id)).to.not.equal(undefined);
      });

      it('lists executions across all jobs newest first, with status, limit, offset and total', async () => {
        const store = await openStore();
        const all: Execution[] = [];
        for (let i = 0; i < 12; i++) {
          const jobId = ['a', 'b', 'c'][i % 3]!;
          const e = i % 4 === 0 ? makeExecution(jobId, { status: 'in_progress' }) : finished(makeExecution(jobId));
          all.push(e);
          await store.addExecution(e, 100);
        }
        const newest = [...all].reverse();
        expect(store.listAllExecutions({ limit: 100, offset: 0 })).to.deep.equal({ items: newest, total: 12 });
        expect(store.listAllExecutions({ limit: 4, offset: 5 })).to.deep.equal({ items: newest.slice(5, 9), total: 12 });
        const running = newest.filter((e) => e.status === 'in_progress');
        expect(store.listAllExecutions({ status: 'in_progress', limit: 100, offset: 0 })).to.deep.equal({ items: running, total: 3 });
        expect(store.listAllExecutions({ status: 'in_progress', limit: 1, offset: 2 })).to.deep.equal({ items: [running[2]], total: 3 });
        expect(store.listAllExecutions({ limit: 0, offset: 0 })).to.deep.equal({ items: [], total: 12 });
        expect(store.listAllExecutions({ limit: 5, offset: 12 })).to.deep.equal({ items: [], total: 12 });
      });

      it('lists the unfinished executions (queued or in progress) of all jobs', async () => {
        const store = await openStore();
        const queued = makeExecution('a');
        const running = makeExecution('b', { status: 'in_progress' });
        await store.addExecution(queued, 10);
        await store.addExecution(finished(makeExecution('a')), 10);
        await store.addExecution(running, 10);
        await store.addExecution(finished(makeExecution('c'), 'cancelled'), 10);
        expect(ids(store.unfinishedExecutions())).to.have.members([queued.id, running.id]);
        await store.updateExecution({ ...running, status: 'failure', reason: 'interrupted' });
        expect(ids(store.unfinishedExecutions())).to.deep.equal([queued.id]);
        const again = await reopen(store);
        expect(ids(again.unfinishedExecutions())).to.deep.equal([queued.id]);
      });

      it('keeps executions and their updates across a restart', async () => {
        const store = await openStore();
        const a = makeExecution('a', { status: 'in_progress', scheduled_at: '2024-01-02T03:00:00.000Z', trigger: 'schedule' });
        const b = finished(makeExecution('b'), 'failure');
        await store.addExecution(a, 10);
        await store.addExecution(b, 10);
        await store.updateExecution({ ...a, output: 'héllo\n', retry_count: 1 });
        const again = await reopen(store);
        expect(again.getExecution('a', a.id)).to.deep.equal({ ...a, output: 'héllo\n', retry_count: 1 });
        expect(again.getExecution('b', b.id)).to.deep.equal(b);
        expect(ids(again.listAllExecutions({ limit: 10, offset: 0 }).items)).to.deep.equal([b.id, a.id]);
      });
    });

    describe('deleting a job', () => {
      it('removes its definition, state, executions and logs, and nothing of other jobs', async () => {
        const store = await openStore();
        await store.saveApiJob(makeJob('a'));
        await store.saveApiJob(makeJob('b'));
        await store.saveJobState('a', { paused: true });
        const ea = finished(makeExecution('a'));
        const eb = finished(makeExecution('b'));
        await store.addExecution(ea, 10);
        await store.addExecution(eb, 10);
        const logA = await touchLog(store, 'a', ea.id);
        const logB = await touchLog(store, 'b', eb.id);
        await store.deleteJob('a');
        const check = (s: Store) => {
          expect(s.apiJobs().map((j) => j.id)).to.deep.equal(['b']);
          expect(s.jobState('a')).to.deep.equal({});
          expect(s.getExecution('a', ea.id)).to.equal(undefined);
          expect(s.listExecutions('a', { limit: 10, offset: 0 })).to.deep.equal({ items: [], total: 0 });
          expect(ids(s.listAllExecutions({ limit: 10, offset: 0 }).items)).to.deep.equal([eb.id]);
        };
        check(store);
        expect(await exists(logA)).to.equal(false);
        expect(await exists(logB)).to.equal(true);
        check(await reopen(store));
      });

      it('removes the history of a config job (one without a stored definition)', async () => {
        const store = await openStore();
        await store.saveJobState('cfg', { paused: true });
        await store.addExecution(makeExecution('cfg'), 10);
        await store.deleteJob('cfg');
        const again = await reopen(store);
        expect(again.jobState('cfg')).to.deep.equal({});
        expect(again.unfinishedExecutions()).to.deep.equal([]);
      });

      it('lets a job with the same id start afresh', async () => {
        const store = await openStore();
        await store.addExecution(makeExecution('a'), 10);
        await store.deleteJob('a');
        const e = makeExecution('a');
        await store.addExecution(e, 10);
        expect(ids((await reopen(store)).listExecutions('a', { limit: 10, offset: 0 }).items)).to.deep.equal([e.id]);
      });
    });

    describe('paths and health', () => {
      it('gives each execution its own .log path inside the data dir', async () => {
        const store = await openStore();
        const e1 = newExecutionId();
        const e2 = newExecutionId();
        const p1 = store.logPath('a', e1);
        expect(p1.endsWith(`${e1}.log`)).to.equal(true);
        expect(p1.startsWith(dir)).to.equal(true);
        expect(store.logPath('a', e2)).to.not.equal(p1);
        expect(store.logPath('b', e1)).to.not.equal(p1);
      });

      it('refuses ids that would lead outside the data dir', async () => {
        const store = await openStore();
        const eid = newExecutionId();
        for (const bad of ['..', '../x', 'a/../../b', '/etc', '', '.hidden']) {
          expect(() => store.logPath(bad, eid), bad).to.throw();
          let failed = false;
          await store.saveJobState(bad, { paused: true }).catch(() => (failed = true));
          expect(failed, `saveJobState ${bad}`).to.equal(true);
        }
        expect(() => store.logPath('a', '../../etc/passwd')).to.throw();
        let failed = false;
        await store.addExecution(makeExecution('a', { id: '../../x' }), 10).catch(() => (failed = true));
        expect(failed).to.equal(true);
      });

      it('reports the data dir as writable', async () => {
        const store = await openStore();
        expect(await store.isWritable()).to.equal(true);
      });
    });
  });
}
