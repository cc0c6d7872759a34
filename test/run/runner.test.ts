import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { WatchbellError } from '../../src/jobs/errors.js';
import { Events } from '../../src/jobs/events.js';
import type { Execution } from '../../src/jobs/execution.js';
import { JOB_DEFAULTS, type Job } from '../../src/jobs/job.js';
import { Runner } from '../../src/run/runner.js';
import { readLog } from '../../src/store/log-file.js';
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
