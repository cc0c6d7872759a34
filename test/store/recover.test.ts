/** Crash recovery with a real LowdbStore and real processes: interrupted executions and the processes they left. */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Execution } from '../../src/jobs/execution.js';
import { LowdbStore } from '../../src/store/lowdb-store.js';
import * as runnerSide from '../../src/run/pid-file.js';
import { EXECUTION_ID_ENV, pidFilePath } from '../../src/store/orphans.js';
import { recoverInterrupted } from '../../src/store/recover.js';
import { isAlive, killAll, readPids, waitFor } from '../run/helpers.js';
import { exists, makeExecution } from './store-contract.js';
import { JOURNAL_FILE, parseJournal } from '../../src/store/job-journal.js';

/** The daemon's environment without a marker of its own (tests may run under watchbell). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!(EXECUTION_ID_ENV in extra)) delete env[EXECUTION_ID_ENV];
  return env;
}

describe('store/recover: crash recovery', function () {
  this.timeout(30_000);
  let dir: string;
  let store: LowdbStore;
  let leftovers: number[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'watchbell-recover-'));
    store = new LowdbStore(join(dir, 'data'));
    await store.open();
    leftovers = [];
  });

  afterEach(async () => {
    killAll(leftovers);
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Stores an execution a dead daemon left `in_progress`. */
  async function interrupted(jobId = 'job'): Promise<Execution> {
    const e = makeExecution(jobId, {
      status: 'in_progress',
      started_at: new Date(Date.now() - 5000).toISOString(),
      attempts: [{ started_at: new Date(Date.now() - 5000).toISOString(), finished_at: null, exit_code: null, signal: null, reason: null, error: null }],
    });
    await store.addExecution(e, 100);
    return e;
  }

  /**
   * Starts `script` under sh as its own process group, as the runner starts an attempt; the script
   * writes its pids to $PIDS. Returns the group id and the pids, once `count` are written.
   */
  async function startGroup(script: string, env: Record<string, string>, count: number): Promise<{ pgid: number; pids: number[] }> {
    const pidsFile = join(dir, `pids-${Math.random().toString(36).slice(2)}`);
    const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore', env: cleanEnv({ ...env, PIDS: pidsFile }) });
    child.on('error', () => {});
    // The daemon that started it is "dead": nobody waits for it but the test's own reaper.
    child.unref();
    const pgid = child.pid!;
    leftovers.push(pgid);
    const pids = await readPids(pidsFile, count);
    leftovers.push(...pids);
    return { pgid, pids };
  }

  async function writePidFile(e: Execution, pid: number): Promise<string> {
    const file = pidFilePath(store.logPath(e.job_id, e.id));
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${pid}\n`);
    return file;
  }

  it('agrees with the runner on where pid files are and on the name of the marker', () => {
    // store/ may not import run/, so each side has its own copy of the contract; they must not drift.
    expect(runnerSide.EXECUTION_ID_ENV).to.equal(EXECUTION_ID_ENV);
    expect(runnerSide.pidFilePath('/d/jobs/j/logs/exec-x.log')).to.equal(pidFilePath('/d/jobs/j/logs/exec-x.log'));
  });

  it('stops the live process group of an interrupted execution, then marks it failure/interrupted', async () => {
    const e = await interrupted();
    const { pgid, pids } = await startGroup('sleep 1000 & echo $! >> "$PIDS"; sleep 1000 & echo $! >> "$PIDS"; echo $$ >> "$PIDS"; wait', { [EXECUTION_ID_ENV]: e.id }, 3);
    const file = await writePidFile(e, pgid);

    const t0 = Date.now();
    const result = await recoverInterrupted(store, { killGraceMs: 5000 });
    expect(Date.now() - t0, 'SIGTERM was enough, so no grace was waited').to.be.below(4000);
    expect(result.interrupted).to.deep.equal([e.id]);
    expect(result.orphans).to.have.length(1);
    expect(result.orphans[0]).to.include({ jobId: 'job', executionId: e.id, outcome: 'stopped', pid: pgid, killed: false, verified: true });
    expect([...result.orphans[0]!.pids].sort()).to.deep.equal([...pids].sort());
    expect(pids.filter(isAlive), 'processes left alive').to.deep.equal([]);
    expect(await exists(file)).to.equal(false);

    const fixed = store.getExecution('job', e.id)!;
    expect(fixed).to.include({ status: 'failure', reason: 'interrupted' });
    expect(fixed.error).to.equal(`interrupted: the daemon stopped while this execution ran; its processes left running (process group ${pgid}) were stopped at restart`);
    expect(fixed.finished_at).to.be.a('string');
    expect(fixed.duration).to.be.within(4, 60);
    expect(fixed.attempts[0]).to.include({ reason: 'interrupted', error: 'interrupted: the daemon stopped' });
    expect(store.unfinishedExecutions()).to.deep.equal([]);
  });

  it('sends SIGKILL after the grace to a group that ignores SIGTERM', async () => {
    const e = await interrupted();
    const { pgid, pids } = await startGroup(`trap '' TERM; sleep 1000 & echo $! >> "$PIDS"; echo $$ >> "$PIDS"; wait`, { [EXECUTION_ID_ENV]: e.id }, 2);
    await writePidFile(e, pgid);

    const t0 = Date.now();
    const result = await recoverInterrupted(store, { killGraceMs: 300 });
    expect(Date.now() - t0).to.be.at.least(290);
    expect(result.orphans[0]).to.include({ outcome: 'stopped', killed: true });
    expect(pids.filter(isAlive)).to.deep.equal([]);
    expect(store.getExecution('job', e.id)!.error).to.match(/were stopped at restart with SIGKILL$/);
  });

  it('never signals a process whose pid the pid file names but which lacks the execution marker (a reused pid)', async () => {
    const e = await interrupted();
    // Another program, in its own group, that happens to have the pid the dead daemon wrote down.
    const { pgid, pids } = await startGroup('echo $$ >> "$PIDS"; exec sleep 1000', {}, 1);
    const file = await writePidFile(e, pgid);

    const result = await recoverInterrupted(store, { killGraceMs: 300 });
    expect(result.orphans[0]).to.include({ outcome: 'not_ours', pid: pgid });
    expect(result.orphans[0]!.pids).to.deep.equal([]);
    expect(isAlive(pids[0]!), 'the unrelated process is still alive').to.equal(true);
    expect(await exists(file)).to.equal(false);
    expect(store.getExecution('job', e.id)).to.include({ status: 'failure', reason: 'interrupted' });
    expect(store.getExecution('job', e.id)!.error).to.include(`pid ${pgid} of its pid file now belongs to another program, left alone`);
  });

  it('does not signal a process carrying the marker of another execution', async () => {
    const e = await interrupted();
    const other = makeExecution('job').id;
    const { pgid, pids } = await startGroup('echo $$ >> "$PIDS"; exec sleep 1000', { [EXECUTION_ID_ENV]: other }, 1);
    await writePidFile(e, pgid);

    const result = await recoverInterrupted(store, { killGraceMs: 300 });
    expect(result.orphans[0]).to.include({ outcome: 'not_ours' });
    expect(isAlive(pids[0]!)).to.equal(true);
  });

  it('just removes a stale pid file whose process is gone', async () => {
    const e = await interrupted();
    const gone = spawn('/bin/true', { stdio: 'ignore' });
    const deadPid = gone.pid!;
    await once(gone, 'exit');
    const file = await writePidFile(e, deadPid);

    const result = await recoverInterrupted(store, { killGraceMs: 300 });
    expect(result.orphans[0]).to.include({ outcome: 'none', pid: deadPid, verified: true });
    expect(await exists(file)).to.equal(false);
    expect(store.getExecution('job', e.id)!.error).to.equal('interrupted: the daemon stopped while this execution ran; none of its processes was still running');
  });

  it('ignores a torn pid file, and marks a queued execution (which never started a process) interrupted', async () => {
    const e = await interrupted();
    const file = await writePidFile(e, 0);
    // Created, but the crash came before its pid was written.
    await writeFile(file, '');
    const queued = makeExecution('other');
    await store.addExecution(queued, 100);

    const result = await recoverInterrupted(store, { killGraceMs: 300 });
    expect(result.interrupted).to.deep.equal([e.id, queued.id]);
    expect(result.orphans.map((o) => o.outcome)).to.deep.equal(['none', 'none']);
    expect(await exists(file)).to.equal(false);
    const q = store.getExecution('other', queued.id)!;
    expect(q).to.include({ status: 'failure', reason: 'interrupted', duration: null });
  });

  it('finds by its marker a group started just before the crash, before its pid file was written', async () => {
    const e = await interrupted();
    const { pids } = await startGroup('sleep 1000 & echo $! >> "$PIDS"; echo $$ >> "$PIDS"; wait', { [EXECUTION_ID_ENV]: e.id }, 2);

    const result = await recoverInterrupted(store, { killGraceMs: 2000 });
    expect(result.orphans[0]).to.include({ outcome: 'stopped' });
    expect(pids.filter(isAlive)).to.deep.equal([]);
  });

  it('finds by its marker a process that left the group (setsid)', async () => {
    const e = await interrupted();
    const { pgid, pids } = await startGroup(
      'setsid sh -c \'echo $$ >> "$PIDS"; exec sleep 1000\' & sleep 1000 & echo $! >> "$PIDS"; echo $$ >> "$PIDS"; wait',
      { [EXECUTION_ID_ENV]: e.id },
      3,
    );
    await writePidFile(e, pgid);

    const result = await recoverInterrupted(store, { killGraceMs: 2000 });
    expect(result.orphans[0]).to.include({ outcome: 'stopped', pid: pgid });
    expect(result.orphans[0]!.pids).to.include.members(pids);
    await waitFor(() => pids.every((p) => !isAlive(p)), 'every pid to be gone', 3000);
  });

  it('without /proc kills nothing and reports the live group as unverified', async () => {
    const e = await interrupted();
    const { pgid, pids } = await startGroup('echo $$ >> "$PIDS"; exec sleep 1000', { [EXECUTION_ID_ENV]: e.id }, 1);
    const file = await writePidFile(e, pgid);

    const result = await recoverInterrupted(store, { killGraceMs: 300, procDir: join(dir, 'no-proc') });
    expect(result.orphans[0]).to.include({ outcome: 'unverified', pid: pgid, verified: false });
    expect(isAlive(pids[0]!)).to.equal(true);
    expect(await exists(file)).to.equal(false);
    expect(store.getExecution('job', e.id)!.error).to.equal(
      `interrupted: the daemon stopped while this execution ran; process group ${pgid} may still run it: without /proc it could not be verified as this execution's, so it was left alone`,
    );
  });

  it('leaves finished executions and their processes alone, and survives a reopen', async () => {
    const done = makeExecution('job', { status: 'success', finished_at: new Date().toISOString(), reason: 'exit', exit_code: 0 });
    await store.addExecution(done, 100);
    const e = await interrupted();
    const result = await recoverInterrupted(store);
    expect(result.interrupted).to.deep.equal([e.id]);
    expect(store.getExecution('job', done.id)).to.deep.equal(done);
    await store.close();
    store = new LowdbStore(join(dir, 'data'));
    await store.open();
    expect(store.unfinishedExecutions()).to.deep.equal([]);
    expect(store.getExecution('job', e.id)).to.include({ status: 'failure', reason: 'interrupted' });
    expect(await recoverInterrupted(store)).to.deep.equal({ interrupted: [], orphans: [] });
    expect(parseJournal(await readFile(join(dir, 'data', 'jobs', 'job', JOURNAL_FILE), 'utf8')).executions.size).to.equal(2);
  });
});
