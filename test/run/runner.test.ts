import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WatchbellError } from '../../src/jobs/errors.js';
import { Events } from '../../src/jobs/events.js';
import type { Execution } from '../../src/jobs/execution.js';
import { JOB_DEFAULTS, type Job } from '../../src/jobs/job.js';
import { Runner } from '../../src/run/runner.js';
import { readLog } from '../../src/store/log-reader.js';
import { LowdbStore } from '../../src/store/lowdb-store.js';
import { isAlive, killAll, readPids, tempDir, waitFor } from './helpers.js';

function makeJob(fields: Partial<Job> & Pick<Job, 'id' | 'command'>): Job {
  return {
    ...JOB_DEFAULTS,
    name: fields.id,
    schedule: '@every 1h',
    tags: [],
    environment: {},
    source: 'api',
    status: 'active',
    created_at: '2024-01-01T00:00:00Z',
    updated_at: '2024-01-01T00:00:00Z',
    ...fields,
  };
}

/** Rejects with the WatchbellError that `promise` rejects with, or fails. */
async function rejection(promise: Promise<unknown>): Promise<WatchbellError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(WatchbellError);
    return err as WatchbellError;
  }
  throw new Error('expected a rejection');
}

describe('run/runner Runner', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: LowdbStore;
  let events: Events;
  let runner: Runner;
  let seen: { event: string; execution: Execution }[];
  let errors: unknown[];
  let leftovers: number[] = [];

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    store = new LowdbStore(join(dir, 'data'));
    await store.open();
    events = new Events();
    seen = [];
    errors = [];
    for (const event of ['execution:started', 'execution:finished', 'execution:skipped'] as const) {
      events.on(event, ({ execution }) => seen.push({ event, execution }));
    }
    events.on('error', ({ error }) => errors.push(error));
    runner = new Runner({ store, events, killGraceMs: 500 });
  });

  afterEach(async () => {
    await runner.shutdown(0);
    killAll(leftovers);
    leftovers = [];
    await store.close();
    await cleanup();
    expect(errors).to.deep.equal([]);
  });

  /** A command that writes its shell's pid to a file, then sleeps until stopped. */
  const longRunning = (name: string) => `echo $$ >> '${join(dir, name)}'; sleep 1000 & wait`;
  const waitStarted = async (name: string) => (leftovers = [...leftovers, ...(await readPids(join(dir, name), 1))]);

  it('records the execution before the process starts, then its end', async () => {
    const marker = join(dir, 'ran');
    const job = makeJob({ id: 'hello', command: `echo hello; echo oops >&2; touch '${marker}'` });
    const add = store.addExecution.bind(store);
    const ranBeforeRecorded: boolean[] = [];
    store.addExecution = async (e, limit) => {
      await add(e, limit);
      ranBeforeRecorded.push(existsSync(marker));
    };
    const started = await runner.trigger(job, 'manual', null);
    expect(started).to.include({ job_id: 'hello', status: 'in_progress', trigger: 'manual', scheduled_at: null });
    expect(started.log_route).to.equal(`/api/v1/jobs/hello/executions/${started.id}/log`);
    expect(store.getExecution('hello', started.id)?.status).to.equal('in_progress');

    const done = await runner.whenFinished(started.id);
    expect(done).to.include({ status: 'success', exit_code: 0, signal: null, reason: 'exit', error: null, retry_count: 0 });
    expect(done.duration).to.be.a('number').and.to.be.above(0);
    expect(done.output).to.equal('hello\noops\n');
    expect(done.attempts).to.have.length(1);
    expect(store.getExecution('hello', started.id)).to.deep.equal(done);
    expect(await readLog(store.logPath('hello', started.id), { stream: 'stdout' })).to.equal('hello\n');
    expect(seen.map((s) => `${s.event} ${s.execution.status}`)).to.deep.equal([
      'execution:started in_progress',
      'execution:finished success',
    ]);
    expect(runner.isRunning('hello')).to.equal(false);
    expect(ranBeforeRecorded).to.deep.equal([false]);
    expect(Date.parse(done.attempts[0]!.started_at)).to.be.at.least(Date.parse(started.started_at!));
  });

  it('passes scheduled_at and the trigger through', async () => {
    const slot = new Date('2024-05-01T10:00:00Z');
    const e = await runner.trigger(makeJob({ id: 'sched', command: 'true' }), 'schedule', slot);
    expect(e).to.include({ trigger: 'schedule', scheduled_at: '2024-05-01T10:00:00.000Z' });
    await runner.whenFinished(e.id);
  });

  it('records a failure with its retries', async () => {
    const job = makeJob({
      id: 'flaky',
      command: 'c=$(cat count 2>/dev/null || echo 0); c=$((c+1)); echo $c > count; [ $c -ge 3 ]',
      working_directory: dir,
      retries: 1,
      retry_delay: 0.05,
    });
    const failed = await runner.whenFinished((await runner.trigger(job, 'manual', null)).id);
    expect(failed).to.include({ status: 'failure', exit_code: 1, reason: 'exit', error: 'exited with code 1', retry_count: 1 });
    expect(failed.attempts.map((a) => a.exit_code)).to.deep.equal([1, 1]);
    expect(failed.output).to.include('--- attempt 2 of 2 (retry after 0.05s) ---');

    const ok = await runner.whenFinished((await runner.trigger({ ...job, retries: 3 }, 'manual', null)).id);
    expect(ok).to.include({ status: 'success', retry_count: 0 });
  });

  it('retries until success and records every attempt', async () => {
    const job = makeJob({
      id: 'third-time',
      command: 'c=$(cat count 2>/dev/null || echo 0); c=$((c+1)); echo $c > count; [ $c -ge 3 ]',
      working_directory: dir,
      retries: 3,
      retry_delay: 0.05,
    });
    const done = await runner.whenFinished((await runner.trigger(job, 'manual', null)).id);
    expect(done).to.include({ status: 'success', exit_code: 0, reason: 'exit', error: null, retry_count: 2 });
    expect(done.attempts.map((a) => [a.exit_code, a.reason, a.error])).to.deep.equal([
      [1, 'exit', 'exited with code 1'],
      [1, 'exit', 'exited with code 1'],
      [0, 'exit', null],
    ]);
  });

  it('stops the whole tree on timeout and records it', async () => {
    const pids = join(dir, 'pids');
    const job = makeJob({ id: 'slow', command: `sleep 1000 & echo $! >> '${pids}'; echo $$ >> '${pids}'; wait`, timeout: 1 });
    const e = await runner.trigger(job, 'schedule', new Date());
    leftovers = await readPids(pids, 2);
    const done = await runner.whenFinished(e.id);
    expect(done).to.include({ status: 'failure', reason: 'timeout', error: 'timed out after 1s', signal: 'SIGTERM' });
    expect(done.output).to.include('--- timed out after 1s; stopping the process group ---');
    await waitFor(() => leftovers.every((p) => !isAlive(p)), 'every pid of the tree to be gone');
  });

  it('records a spawn error', async () => {
    const done = await runner.whenFinished((await runner.trigger(makeJob({ id: 'missing', command: ['/nonexistent'] }), 'manual', null)).id);
    expect(done).to.include({ status: 'failure', reason: 'spawn_error', error: 'spawn /nonexistent ENOENT', exit_code: null });
  });

  it('passes environment and working directory', async () => {
    const job = makeJob({ id: 'env', command: 'printf "%s %s" "$GREETING" "$(pwd)"', environment: { GREETING: 'hi' }, working_directory: dir });
    const done = await runner.whenFinished((await runner.trigger(job, 'manual', null)).id);
    expect(done.output).to.match(new RegExp(`^hi .*${dir.split('/').pop()}$`));
  });

  describe('cancel', () => {
    it('cancels a running execution and stops its tree', async () => {
      const job = makeJob({ id: 'cancel-me', command: longRunning('pid'), retries: 3, retry_delay: 0 });
      const e = await runner.trigger(job, 'manual', null);
      await waitStarted('pid');
      const done = await runner.cancel('cancel-me', e.id);
      expect(done).to.include({ status: 'cancelled', reason: 'cancelled', error: 'cancelled', retry_count: 0 });
      expect(store.getExecution('cancel-me', e.id)?.status).to.equal('cancelled');
      await waitFor(() => leftovers.every((p) => !isAlive(p)), 'the job to be gone');
    });

    it('refuses a finished or unknown execution', async () => {
      const job = makeJob({ id: 'quick', command: 'true' });
      const e = await runner.trigger(job, 'manual', null);
      await runner.whenFinished(e.id);
      const finished = await rejection(runner.cancel('quick', e.id));
      expect(finished.code).to.equal('EXECUTION_FINISHED');
      expect(finished.message).to.equal(`execution ${e.id} already finished with status success`);
      const unknown = await rejection(runner.cancel('quick', 'exec-00000000000000000000'));
      expect(unknown.code).to.equal('EXECUTION_NOT_FOUND');
      expect((await rejection(runner.whenFinished('exec-00000000000000000000'))).code).to.equal('EXECUTION_NOT_FOUND');
    });

    it('cancelJob cancels every running execution of a job', async () => {
      const job = makeJob({ id: 'many', command: longRunning('pids'), concurrency: 'allow' });
      await runner.trigger(job, 'manual', null);
      await runner.trigger(job, 'manual', null);
      leftovers = await readPids(join(dir, 'pids'), 2);
      const done = await runner.cancelJob('many');
      expect(done.map((e) => e.status)).to.deep.equal(['cancelled', 'cancelled']);
      expect(runner.running('many')).to.deep.equal([]);
    });
  });

  describe('concurrency', () => {
    it('forbid: a manual run is refused while one runs', async () => {
      const job = makeJob({ id: 'solo', command: longRunning('pid') });
      const first = await runner.trigger(job, 'manual', null);
      const err = await rejection(runner.trigger(job, 'manual', null));
      expect(err.code).to.equal('JOB_ALREADY_RUNNING');
      expect(err.message).to.equal(`job solo is already running (execution ${first.id}) and its concurrency is "forbid"`);
      await waitStarted('pid');
      await runner.cancel('solo', first.id);
    });

    it('forbid: a scheduled run is recorded as skipped', async () => {
      const job = makeJob({ id: 'solo', command: longRunning('pid') });
      const first = await runner.trigger(job, 'schedule', new Date());
      const skipped = await runner.trigger(job, 'schedule', new Date('2024-01-01T00:01:00Z'));
      expect(skipped).to.include({
        status: 'skipped',
        reason: 'overlap',
        error: `skipped: execution ${first.id} still running`,
        scheduled_at: '2024-01-01T00:01:00.000Z',
      });
      expect(store.getExecution('solo', skipped.id)?.status).to.equal('skipped');
      expect(seen.filter((s) => s.event === 'execution:skipped').map((s) => s.execution.id)).to.deep.equal([skipped.id]);
      expect(runner.running('solo').map((e) => e.id)).to.deep.equal([first.id]);
      await waitStarted('pid');
      await runner.cancel('solo', first.id);
    });

    it('forbid: two triggers at the same instant start only one run', async () => {
      const job = makeJob({ id: 'race', command: longRunning('pid') });
      const results = await Promise.allSettled([runner.trigger(job, 'manual', null), runner.trigger(job, 'manual', null)]);
      expect(results.map((r) => r.status).sort()).to.deep.equal(['fulfilled', 'rejected']);
      expect(runner.running('race')).to.have.length(1);
      await waitStarted('pid');
    });

    it('allow: runs beside the running one', async () => {
      const job = makeJob({ id: 'pair', command: longRunning('pids'), concurrency: 'allow' });
      const a = await runner.trigger(job, 'manual', null);
      const b = await runner.trigger(job, 'schedule', new Date());
      expect(b.status).to.equal('in_progress');
      expect(runner.running('pair').map((e) => e.id)).to.deep.equal([a.id, b.id]);
      leftovers = await readPids(join(dir, 'pids'), 2);
    });

    it('replace: cancels the running one, then starts', async () => {
      const job = makeJob({ id: 'newest', command: longRunning('pids'), concurrency: 'replace' });
      const old = await runner.trigger(job, 'schedule', new Date());
      await waitStarted('pids');
      const fresh = await runner.trigger(job, 'schedule', new Date());
      expect(store.getExecution('newest', old.id)?.status).to.equal('cancelled');
      expect(runner.running('newest').map((e) => e.id)).to.deep.equal([fresh.id]);
      leftovers = await readPids(join(dir, 'pids'), 2);
    });
  });

  describe('pid file and execution id', () => {
    it('keeps the group id next to the log while an attempt runs, and removes it after', async () => {
      const pids = join(dir, 'pids');
      const job = makeJob({ id: 'pidful', command: `sleep 1000 & echo $! >> '${pids}'; echo $$ >> '${pids}'; wait` });
      const e = await runner.trigger(job, 'manual', null);
      leftovers = await readPids(pids, 2);
      const [child, shell] = leftovers as [number, number];
      const pidFile = `${store.logPath('pidful', e.id)}.pid`;
      expect(pidFile).to.equal(join(dir, 'data', 'jobs', 'pidful', 'logs', `${e.id}.log.pid`));
      expect(readFileSync(pidFile, 'utf8')).to.equal(`${shell}\n`);
      // What crash recovery reads to tell its processes from a reused pid: in the group leader and its children.
      for (const pid of [shell, child]) {
        expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).to.include(`WATCHBELL_EXECUTION_ID=${e.id}`);
      }
      await runner.cancel('pidful', e.id);
      expect(existsSync(pidFile)).to.equal(false);
      expect(leftovers.filter(isAlive)).to.deep.equal([]);
    });

    it('is gone once an execution that exits by itself is recorded', async () => {
      const e = await runner.trigger(makeJob({ id: 'brief', command: 'sleep 0.1' }), 'manual', null);
      await runner.whenFinished(e.id);
      expect(existsSync(`${store.logPath('brief', e.id)}.pid`)).to.equal(false);
    });

    it('sets WATCHBELL_EXECUTION_ID in every attempt, and a job cannot override it', async () => {
      const job = makeJob({
        id: 'who',
        command: 'echo "$WATCHBELL_EXECUTION_ID"; exit 1',
        environment: { WATCHBELL_EXECUTION_ID: 'spoofed' },
        retries: 1,
        retry_delay: 0,
      });
      const done = await runner.whenFinished((await runner.trigger(job, 'manual', null)).id);
      expect(await readLog(store.logPath('who', done.id), { stream: 'stdout' })).to.equal(`${done.id}\n${done.id}\n`);
    });
  });

  describe('max_concurrency', () => {
    /**
     * A job that appends its execution id to `started` when its process starts, then runs until
     * release(id), so each test decides when a slot frees up.
     */
    const gated = (id: string, fields: Partial<Job> = {}) =>
      makeJob({
        id,
        command: `echo "$WATCHBELL_EXECUTION_ID" >> '${join(dir, 'started')}'; while [ ! -f "$WATCHBELL_EXECUTION_ID.go" ]; do sleep 0.02; done`,
        working_directory: dir,
        ...fields,
      });
    const startedIds = () => (existsSync(join(dir, 'started')) ? readFileSync(join(dir, 'started'), 'utf8').split('\n').filter(Boolean) : []);
    const waitForStarts = (n: number) => waitFor(() => (startedIds().length >= n ? startedIds() : null), `${n} processes to start`);
    const release = (e: Execution) => writeFileSync(join(dir, `${e.id}.go`), '');
    const ids = (list: Execution[]) => list.map((e) => e.id);
    const eventLog = () => seen.map((s) => `${s.event} ${s.execution.id}`);

    /** Replaces the suite's runner by one with `maxConcurrency` slots. */
    async function limitTo(maxConcurrency: number): Promise<void> {
      await runner.shutdown(0);
      runner = new Runner({ store, events, killGraceMs: 500, maxConcurrency });
    }

    it('queues executions beyond the limit and starts them first come, first started, across jobs', async () => {
      await limitTo(2);
      const a = gated('a', { concurrency: 'allow' });
      const b = gated('b', { concurrency: 'allow' });
      const e1 = await runner.trigger(a, 'manual', null);
      const e2 = await runner.trigger(b, 'schedule', new Date('2024-01-01T00:00:00Z'));
      const e3 = await runner.trigger(b, 'manual', null);
      const e4 = await runner.trigger(a, 'manual', null);
      expect([e1, e2, e3, e4].map((e) => e.status)).to.deep.equal(['in_progress', 'in_progress', 'queued', 'queued']);
      expect(e3).to.include({ job_id: 'b', trigger: 'manual', started_at: null, finished_at: null, duration: null });
      expect(store.getExecution('b', e3.id)).to.include({ status: 'queued', started_at: null });
      expect(store.getExecution('a', e4.id)).to.include({ status: 'queued', started_at: null });
      expect(ids(runner.running())).to.deep.equal([e1.id, e2.id]);
      expect(ids(runner.queued())).to.deep.equal([e3.id, e4.id]);
      expect(ids(runner.queued('a'))).to.deep.equal([e4.id]);
      expect(await waitForStarts(2)).to.have.members([e1.id, e2.id]);
      // Started is told when a process starts, not when it is queued.
      expect(eventLog()).to.deep.equal([`execution:started ${e1.id}`, `execution:started ${e2.id}`]);

      // A slot freed by job a goes to the oldest queued execution, e3 of job b, not to a's own e4.
      release(e1);
      expect((await waitForStarts(3))[2]).to.equal(e3.id);
      const s3 = store.getExecution('b', e3.id)!;
      expect(s3.status).to.equal('in_progress');
      expect(Date.parse(s3.started_at!)).to.be.at.least(Date.parse(store.getExecution('a', e1.id)!.finished_at!));
      expect(ids(runner.queued())).to.deep.equal([e4.id]);
      expect(eventLog().slice(2)).to.deep.equal([`execution:finished ${e1.id}`, `execution:started ${e3.id}`]);
      expect(seen.find((s) => s.event === 'execution:started' && s.execution.id === e3.id)?.execution).to.deep.equal(s3);

      release(e2);
      expect((await waitForStarts(4))[3]).to.equal(e4.id);
      release(e3);
      release(e4);
      const done = await Promise.all([e1, e2, e3, e4].map((e) => runner.whenFinished(e.id)));
      expect(done.map((e) => e.status)).to.deep.equal(['success', 'success', 'success', 'success']);
      expect(eventLog().filter((e) => e.startsWith('execution:started'))).to.deep.equal(ids([e1, e2, e3, e4]).map((id) => `execution:started ${id}`));
      expect(done[2]!.output).to.match(/^--- waited \d+(\.\d+)?s in the queue: max_concurrency \(2\) executions were in progress ---\n$/);
      expect(done[0]!.output).to.equal('');
      expect(runner.running()).to.deep.equal([]);
    });

    it('cancels a queued execution at once, without ever starting it', async () => {
      await limitTo(1);
      const blocker = await runner.trigger(gated('blocker'), 'manual', null);
      const queued = await runner.trigger(gated('waiter'), 'schedule', new Date('2024-01-01T00:00:00Z'));
      expect(queued.status).to.equal('queued');
      await waitForStarts(1);

      const cancelled = await runner.cancel('waiter', queued.id);
      expect(cancelled).to.include({
        status: 'cancelled',
        reason: 'cancelled',
        error: 'cancelled while queued',
        started_at: null,
        duration: null,
        exit_code: null,
        retry_count: 0,
      });
      expect(cancelled.finished_at).to.be.a('string');
      expect(cancelled.attempts).to.deep.equal([]);
      expect(store.getExecution('waiter', queued.id)).to.deep.equal(cancelled);
      expect(await runner.whenFinished(queued.id)).to.deep.equal(cancelled);
      expect(runner.queued()).to.deep.equal([]);
      expect(runner.isRunning('waiter')).to.equal(false);
      expect(eventLog()).to.deep.equal([`execution:started ${blocker.id}`, `execution:finished ${queued.id}`]);
      expect((await rejection(runner.cancel('waiter', queued.id))).code).to.equal('EXECUTION_FINISHED');

      release(blocker);
      await runner.whenFinished(blocker.id);
      // The freed slot went to nobody; the next trigger starts at once.
      const next = await runner.trigger(gated('waiter'), 'manual', null);
      expect(next.status).to.equal('in_progress');
      expect(await waitForStarts(2)).to.deep.equal([blocker.id, next.id]);
      release(next);
      await runner.whenFinished(next.id);
    });

    it('forbid: a queued execution counts as in progress', async () => {
      await limitTo(1);
      const blocker = await runner.trigger(gated('blocker'), 'manual', null);
      const queued = await runner.trigger(gated('solo'), 'schedule', new Date('2024-01-01T00:00:00Z'));
      expect(queued.status).to.equal('queued');

      const refused = await rejection(runner.trigger(gated('solo'), 'manual', null));
      expect(refused.code).to.equal('JOB_ALREADY_RUNNING');
      expect(refused.message).to.equal(`job solo is already queued (execution ${queued.id}) and its concurrency is "forbid"`);
      const skipped = await runner.trigger(gated('solo'), 'schedule', new Date('2024-01-01T00:01:00Z'));
      expect(skipped).to.include({ status: 'skipped', reason: 'overlap', error: `skipped: execution ${queued.id} still queued` });
      expect(ids(runner.queued())).to.deep.equal([queued.id]);

      release(blocker);
      expect(await waitForStarts(2)).to.deep.equal([blocker.id, queued.id]);
      release(queued);
      expect((await runner.whenFinished(queued.id)).status).to.equal('success');
    });

    it('replace: cancels the queued one and queues the new one', async () => {
      await limitTo(1);
      const blocker = await runner.trigger(gated('blocker'), 'manual', null);
      const job = gated('newest', { concurrency: 'replace' });
      const old = await runner.trigger(job, 'schedule', new Date('2024-01-01T00:00:00Z'));
      const fresh = await runner.trigger(job, 'schedule', new Date('2024-01-01T00:01:00Z'));
      expect(fresh.status).to.equal('queued');
      expect(store.getExecution('newest', old.id)).to.include({ status: 'cancelled', error: 'cancelled while queued', started_at: null });
      expect(ids(runner.queued())).to.deep.equal([fresh.id]);

      release(blocker);
      expect(await waitForStarts(2)).to.deep.equal([blocker.id, fresh.id]);
      release(fresh);
      await runner.whenFinished(fresh.id);
    });

    it('cancelJob cancels queued executions without starting them', async () => {
      await limitTo(1);
      const job = gated('many', { concurrency: 'allow' });
      const first = await runner.trigger(job, 'manual', null);
      const second = await runner.trigger(job, 'manual', null);
      await waitForStarts(1);
      const done = await runner.cancelJob('many');
      expect(done.map((e) => [e.id, e.status, e.error])).to.deep.equal([
        [first.id, 'cancelled', 'cancelled'],
        [second.id, 'cancelled', 'cancelled while queued'],
      ]);
      expect(startedIds()).to.deep.equal([first.id]);
      expect(runner.running()).to.deep.equal([]);
      expect(runner.queued()).to.deep.equal([]);
    });

    it('shutdown cancels queued executions at once and still gives running ones their grace', async () => {
      await limitTo(1);
      const running = await runner.trigger(gated('first'), 'manual', null);
      const b = await runner.trigger(gated('second'), 'manual', null);
      const c = await runner.trigger(gated('third'), 'schedule', new Date());
      await waitForStarts(1);
      const stopping = runner.shutdown(10_000);
      await waitFor(
        () => store.getExecution('second', b.id)?.status === 'cancelled' && store.getExecution('third', c.id)?.status === 'cancelled',
        'the queued executions to be recorded cancelled',
      );
      expect(store.getExecution('third', c.id)).to.include({ error: 'cancelled while queued: watchbell shut down', started_at: null });
      expect(store.getExecution('first', running.id)?.status).to.equal('in_progress');
      release(running);
      await stopping;
      expect(store.getExecution('first', running.id)?.status).to.equal('success');
      expect(startedIds()).to.deep.equal([running.id]);
    });

    it('keeps its slots right when a queued execution cannot be recorded', async () => {
      await limitTo(1);
      const blocker = await runner.trigger(gated('blocker'), 'manual', null);
      const add = store.addExecution.bind(store);
      store.addExecution = async (e, limit) => {
        if (e.job_id === 'broken') throw new Error('disk full');
        await add(e, limit);
      };
      let error: unknown;
      await runner.trigger(gated('broken'), 'manual', null).catch((err: unknown) => (error = err));
      expect((error as Error).message).to.equal('disk full');
      const after = await runner.trigger(gated('after'), 'manual', null);
      expect(ids(runner.queued())).to.deep.equal([after.id]);
      release(blocker);
      expect(await waitForStarts(2)).to.deep.equal([blocker.id, after.id]);
      release(after);
      expect((await runner.whenFinished(after.id)).status).to.equal('success');
      expect(runner.running()).to.deep.equal([]);
    });

    it('refuses a limit below 1', () => {
      expect(() => new Runner({ store, events, maxConcurrency: 0 })).to.throw(RangeError, 'maxConcurrency must be an integer >= 1');
    });
  });

  describe('shutdown', () => {
    it('lets short runs finish, cancels the rest after the grace, and refuses new triggers', async () => {
      const quick = await runner.trigger(makeJob({ id: 'quick', command: 'sleep 0.2' }), 'manual', null);
      const slow = await runner.trigger(makeJob({ id: 'slow', command: longRunning('pid') }), 'manual', null);
      await waitStarted('pid');
      const stopping = runner.shutdown(1000);
      expect(runner.shutdown(5000)).to.equal(stopping);
      const refused = await rejection(runner.trigger(makeJob({ id: 'late', command: 'true' }), 'manual', null));
      expect(refused.message).to.equal('watchbell is shutting down; job late was not started');
      await stopping;
      expect(store.getExecution('quick', quick.id)?.status).to.equal('success');
      expect(store.getExecution('slow', slow.id)?.status).to.equal('cancelled');
      expect(runner.running()).to.deep.equal([]);
    });
  });
});
