import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runAttempt, type AttemptResult, type RunAttemptOptions } from '../../src/run/command.js';
import { isAlive, killAll, memorySink, readPids, tempDir, waitFor, type MemorySink } from './helpers.js';

describe('run/command runAttempt', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let sink: MemorySink;
  let leftovers: number[] = [];

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    sink = memorySink();
  });
  afterEach(async () => {
    killAll(leftovers);
    leftovers = [];
    await cleanup();
  });

  function run(command: string | string[], options: Partial<RunAttemptOptions> = {}): Promise<AttemptResult> {
    return runAttempt({
      command,
      environment: {},
      workingDirectory: null,
      timeoutMs: 10_000,
      killGraceMs: 500,
      log: sink,
      signal: new AbortController().signal,
      ...options,
    });
  }

  it('records exit 0 with no error', async () => {
    const r = await run('echo hello');
    expect(r).to.include({ exit_code: 0, signal: null, reason: 'exit', error: null });
    expect(sink.text('stdout')).to.equal('hello\n');
    expect(Date.parse(r.finished_at)).to.be.at.least(Date.parse(r.started_at));
  });

  it('masks the environment\'s values in a spawn error, which Node may quote', async () => {
    const secret = 'spawn-secret-7c1d9e';
    const r = await run('true', { environment: { OK: 'spawn-secret-ok', BAD: `${secret}\u0000x` } });
    expect(r.reason).to.equal('spawn_error');
    expect(r.error).to.equal("could not start: options.env['BAD'] is not a valid string (a NUL byte?)");
    expect(r.error).not.to.include(secret);
    expect(sink.text('stdout') + sink.text('stderr')).not.to.include(secret);
  });

  it('records a non-zero exit as data, not an exception', async () => {
    const r = await run('echo oops >&2; exit 1');
    expect(r).to.include({ exit_code: 1, signal: null, reason: 'exit', error: 'exited with code 1' });
    expect(sink.text('stderr')).to.equal('oops\n');
  });

  it('records death by a signal', async () => {
    const r = await run('kill -KILL $$');
    expect(r).to.include({ exit_code: null, signal: 'SIGKILL', reason: 'exit', error: 'killed by signal SIGKILL' });
  });

  it('runs an array command without a shell', async () => {
    const r = await run(['printf', '%s|%s', 'a b', '$HOME']);
    expect(r.error).to.equal(null);
    expect(sink.text('stdout')).to.equal('a b|$HOME');
  });

  it("adds the job's environment to the daemon's", async () => {
    process.env.WATCHBELL_TEST_DAEMON_VAR = 'from-daemon';
    try {
      await run('printf "%s %s" "$JOB_VAR" "$WATCHBELL_TEST_DAEMON_VAR"', { environment: { JOB_VAR: 'from job' } });
    } finally {
      delete process.env.WATCHBELL_TEST_DAEMON_VAR;
    }
    expect(sink.text('stdout')).to.equal('from job from-daemon');
  });

  it('runs in the working directory, or the daemon cwd when none is set', async () => {
    await run(['pwd'], { workingDirectory: dir });
    expect(sink.text('stdout')).to.equal(`${await realpath(dir)}\n`);
    sink.chunks.length = 0;
    await run(['pwd']);
    expect(sink.text('stdout')).to.equal(`${await realpath(process.cwd())}\n`);
  });

  it('captures stdout and stderr chunks in arrival order', async () => {
    await run('echo o1; sleep 0.1; echo e1 >&2; sleep 0.1; echo o2; sleep 0.1; echo e2 >&2');
    expect(sink.chunks).to.deep.equal([
      { stream: 'stdout', text: 'o1\n' },
      { stream: 'stderr', text: 'e1\n' },
      { stream: 'stdout', text: 'o2\n' },
      { stream: 'stderr', text: 'e2\n' },
    ]);
  });

  it('streams output while the command still runs', async () => {
    const go = join(dir, 'go');
    const result = run(`echo first; while [ ! -f '${go}' ]; do sleep 0.02; done; echo second`);
    await waitFor(() => sink.text().includes('first'), 'the first line before the command ends');
    expect(sink.text()).to.not.include('second');
    await writeFile(go, '');
    expect((await result).error).to.equal(null);
    expect(sink.text('stdout')).to.equal('first\nsecond\n');
  });

  it('stops the whole process tree on timeout', async () => {
    const pidFile = join(dir, 'pids');
    const result = run(`sleep 1000 & echo $! >> '${pidFile}'; sleep 1000 & echo $! >> '${pidFile}'; echo $$ >> '${pidFile}'; wait`, {
      timeoutMs: 1000,
    });
    leftovers = await readPids(pidFile, 3);
    const r = await result;
    expect(r).to.include({ reason: 'timeout', error: 'timed out after 1s', signal: 'SIGTERM', exit_code: null });
    expect(sink.notes).to.deep.equal(['--- timed out after 1s; stopping the process group ---']);
    await waitFor(() => leftovers.every((p) => !isAlive(p)), 'every pid of the tree to be gone');
  });

  it('kills a tree that ignores SIGTERM once the grace is over', async () => {
    const pidFile = join(dir, 'pids');
    const result = run(`trap '' TERM; sleep 1000 & echo $! >> '${pidFile}'; echo $$ >> '${pidFile}'; wait`, {
      timeoutMs: 300,
      killGraceMs: 300,
    });
    leftovers = await readPids(pidFile, 2);
    const r = await result;
    expect(r).to.include({ reason: 'timeout', signal: 'SIGKILL', error: 'timed out after 0.3s' });
    await waitFor(() => leftovers.every((p) => !isAlive(p)), 'every pid of the tree to be gone');
  });

  it('ends the attempt even when a process that left the group keeps the output pipe open', async () => {
    const pidFile = join(dir, 'pids');
    const result = run(`setsid sleep 1000 & echo $! >> '${pidFile}'`, { timeoutMs: 300 });
    leftovers = await readPids(pidFile, 1);
    const r = await result;
    // It escaped the group, so it survives; the attempt still ends (and says why).
    expect(r).to.include({ reason: 'timeout', exit_code: 0 });
  });

  it('stops the whole process tree when cancelled', async () => {
    const pidFile = join(dir, 'pids');
    const controller = new AbortController();
    const result = run(`sleep 1000 & echo $! >> '${pidFile}'; echo $$ >> '${pidFile}'; wait`, { signal: controller.signal });
    leftovers = await readPids(pidFile, 2);
    controller.abort();
    const r = await result;
    expect(r).to.include({ reason: 'cancelled', error: 'cancelled', signal: 'SIGTERM' });
    await waitFor(() => leftovers.every((p) => !isAlive(p)), 'every pid of the tree to be gone');
  });

  it('does not start when already cancelled', async () => {
    const controller = new AbortController();
    controller.abort();
    const marker = join(dir, 'ran');
    const r = await run(`touch '${marker}'`, { signal: controller.signal });
    expect(r).to.include({ reason: 'cancelled', exit_code: null, error: 'cancelled' });
    expect(existsSync(marker)).to.equal(false);
  });

  it('reports a command that cannot be spawned', async () => {
    const r = await run(['/nonexistent']);
    expect(r).to.include({ reason: 'spawn_error', exit_code: null, signal: null, error: 'spawn /nonexistent ENOENT' });
    expect(sink.notes).to.deep.equal(['--- spawn /nonexistent ENOENT ---']);
  });

  it('reports a working directory that vanished as a spawn error', async () => {
    const r = await run('true', { workingDirectory: join(dir, 'gone') });
    expect(r.reason).to.equal('spawn_error');
    expect(r.error).to.equal(`spawn /bin/sh ENOENT (working directory ${join(dir, 'gone')} does not exist)`);
  });

  it('reports exit 127 for a missing program under the shell', async () => {
    const r = await run('/nonexistent-program');
    expect(r).to.include({ reason: 'exit', exit_code: 127, error: 'exited with code 127' });
  });

  describe('pid file', () => {
    /** The process group of `pid`, from /proc. */
    const groupOf = (pid: number) => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    };

    it('holds the group id while the attempt runs, created before the process exists, and is gone after', async () => {
      // In a dir that does not exist yet, as when the log sink is not a log file.
      const pidFile = join(dir, 'logs', 'exec.log.pid');
      const pids = join(dir, 'pids');
      const go = join(dir, 'go');
      const seen = join(dir, 'seen');
      // The job's first act looks for the file: it exists before the process does (the pid goes in synchronously
      // after the spawn), so a daemon killed at any moment the process runs leaves the file behind.
      const result = run(`[ -f '${pidFile}' ] && echo present > '${seen}'; sleep 1000 & echo $! >> '${pids}'; echo $$ >> '${pids}'; while [ ! -f '${go}' ]; do sleep 0.02; done; kill $!`, {
        pidFile,
      });
      leftovers = await readPids(pids, 2);
      expect(readFileSync(seen, 'utf8')).to.equal('present\n');
      const [child, shell] = leftovers as [number, number];
      expect(readFileSync(pidFile, 'utf8')).to.equal(`${shell}
`);
      expect(groupOf(shell)).to.equal(shell);
      expect(groupOf(child)).to.equal(shell);
      await writeFile(go, '');
      expect((await result).reason).to.equal('exit');
      expect(existsSync(pidFile)).to.equal(false);
    });

    it('is removed once a timed-out group is stopped', async () => {
      const pidFile = join(dir, 'exec.log.pid');
      const pids = join(dir, 'pids');
      const result = run(`sleep 1000 & echo $! >> '${pids}'; echo $$ >> '${pids}'; wait`, { pidFile, timeoutMs: 300 });
      leftovers = await readPids(pids, 2);
      expect(readFileSync(pidFile, 'utf8')).to.equal(`${leftovers[1]}
`);
      expect((await result).reason).to.equal('timeout');
      expect(existsSync(pidFile)).to.equal(false);
      expect(leftovers.filter(isAlive)).to.deep.equal([]);
    });

    it('is not written for a command that cannot be spawned', async () => {
      const pidFile = join(dir, 'exec.log.pid');
      expect((await run(['/nonexistent'], { pidFile })).reason).to.equal('spawn_error');
      expect(existsSync(pidFile)).to.equal(false);
    });

    it('stops the attempt at once and throws when the pid file cannot be written', async () => {
      await writeFile(join(dir, 'not-a-dir'), '');
      const pidFile = join(dir, 'not-a-dir', 'exec.log.pid');
      const started = Date.now();
      let error: unknown;
      try {
        await run('sleep 1000', { pidFile });
      } catch (err) {
        error = err;
      }
      expect((error as NodeJS.ErrnoException | undefined)?.code).to.equal('ENOTDIR');
      expect(Date.now() - started).to.be.below(5000);
      expect(sink.notes).to.have.length(1);
      expect(sink.notes[0]).to.match(/^--- cannot write the pid file .*not-a-dir\/exec\.log\.pid: ENOTDIR.*; stopping the process group ---$/);
    });
  });
});
