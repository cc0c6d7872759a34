import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runAttempt, type AttemptResult } from '../../src/run/command.js';
import { JOB_DEFAULTS, type Job } from '../../src/jobs/job.js';
import { finishedExecution, startedExecution } from '../../src/run/execution-record.js';
import { runWithRetries, type RetryOptions, type RetryOutcome } from '../../src/run/retry.js';
import { memorySink, tempDir, waitFor, type MemorySink } from './helpers.js';

describe('run/retry runWithRetries', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let sink: MemorySink;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    sink = memorySink();
  });
  afterEach(() => cleanup());

  function attempts(command: string, signal: AbortSignal, timeoutMs = 5000): RetryOptions['attempt'] {
    return () =>
      runAttempt({ command, environment: {}, workingDirectory: dir, timeoutMs, killGraceMs: 500, log: sink, signal });
  }

  /** The status an execution with this outcome is recorded with. */
  const statusOf = (outcome: RetryOutcome) => {
    const job = { ...JOB_DEFAULTS, id: 'retried', command: 'true' } as Job;
    return finishedExecution(startedExecution(job, 'manual', null, new Date()), outcome, '', new Date()).status;
  };

  /** A shell that exits 0 when stopped by SIGTERM (after writing `started`), as many scripts' cleanup traps do. */
  const exitsZeroOnTerm = (started: string) => `trap 'exit 0' TERM; touch '${started}'; sleep 30 & wait`;

  /** An attempt's result as runAttempt gives it, for loops that need no process. */
  const exited = (code: number): AttemptResult => ({
    started_at: new Date().toISOString(),
    finished_at: new Date().toISOString(),
    exit_code: code,
    signal: null,
    reason: 'exit',
    error: code === 0 ? null : `exited with code ${code}`,
  });

  /** Fails until it has run `n` times, counting in a file. */
  const succeedsOnRun = (n: number) => `c=$(cat count 2>/dev/null || echo 0); c=$((c+1)); echo $c > count; echo "run $c"; [ $c -ge ${n} ]`;

  it('retries a failing command until it succeeds', async () => {
    const signal = new AbortController().signal;
    const out = await runWithRetries({ retries: 3, retryDelayMs: 50, log: sink, signal, attempt: attempts(succeedsOnRun(3), signal) });
    expect(out.cancelled).to.equal(false);
    expect(out.attempts.map((a) => a.exit_code)).to.deep.equal([1, 1, 0]);
    expect(out.attempts.map((a) => a.error)).to.deep.equal(['exited with code 1', 'exited with code 1', null]);
    expect(sink.notes).to.deep.equal([
      '--- attempt 2 of 4 (retry after 0.05s) ---',
      '--- attempt 3 of 4 (retry after 0.05s) ---',
    ]);
    expect(sink.text('stdout')).to.equal('run 1\nrun 2\nrun 3\n');
  });

  it('gives up after 1 + retries attempts', async () => {
    const signal = new AbortController().signal;
    const out = await runWithRetries({ retries: 2, retryDelayMs: 10, log: sink, signal, attempt: attempts('exit 3', signal) });
    expect(out.attempts).to.have.length(3);
    expect(out.attempts.every((a) => a.exit_code === 3)).to.equal(true);
    expect(out.cancelled).to.equal(false);
  });

  it('makes no retry after a success', async () => {
    const signal = new AbortController().signal;
    const out = await runWithRetries({ retries: 5, retryDelayMs: 10, log: sink, signal, attempt: attempts('true', signal) });
    expect(out.attempts).to.have.length(1);
    expect(sink.notes).to.deep.equal([]);
  });

  it('waits retry_delay between attempts', async () => {
    const signal = new AbortController().signal;
    const out = await runWithRetries({ retries: 1, retryDelayMs: 300, log: sink, signal, attempt: attempts('false', signal) });
    const gap = Date.parse(out.attempts[1]!.started_at) - Date.parse(out.attempts[0]!.finished_at);
    expect(gap).to.be.at.least(290);
  });

  it('stops at once when cancelled during the wait, leaving no timer behind', async () => {
    const controller = new AbortController();
    const t0 = Date.now();
    const out = await runWithRetries({
      retries: 3,
      retryDelayMs: 600_000,
      log: sink,
      signal: controller.signal,
      attempt: attempts('false', controller.signal),
      onRetry: () => controller.abort(),
    });
    expect(Date.now() - t0).to.be.below(5000);
    expect(out.cancelled).to.equal(true);
    expect(out.attempts).to.have.length(1);
    expect(sink.notes).to.deep.equal(['--- cancelled while waiting to retry (attempt 2 of 4 not run) ---']);
  });

  it('makes no further attempt after a cancelled one', async () => {
    const controller = new AbortController();
    const started = join(dir, 'started');
    const calls: AttemptResult[] = [];
    const run = attempts(`touch '${started}'; sleep 1000`, controller.signal);
    const out = await runWithRetries({
      retries: 3,
      retryDelayMs: 10,
      log: sink,
      signal: controller.signal,
      attempt: async (n) => {
        if (n === 1) setImmediate(() => controller.abort());
        const r = await run(n);
        calls.push(r);
        return r;
      },
    });
    expect(calls).to.have.length(1);
    expect(out.cancelled).to.equal(true);
    expect(out.attempts[0]!.reason).to.equal('cancelled');
  });

  describe('a timeout or a cancel is never a success, whatever the exit code', () => {
    it('retries an attempt that timed out although its process exited 0 on SIGTERM, and records a failure', async () => {
      const signal = new AbortController().signal;
      const out = await runWithRetries({ retries: 1, retryDelayMs: 10, log: sink, signal, attempt: attempts(exitsZeroOnTerm(join(dir, 'started')), signal, 800) });
      expect(out.attempts.map((a) => [a.reason, a.exit_code])).to.deep.equal([['timeout', 0], ['timeout', 0]]);
      expect(out.cancelled).to.equal(false);
      expect(statusOf(out)).to.equal('failure');
    });

    it('records a cancelled attempt that exited 0 as cancelled, with no retry', async () => {
      const controller = new AbortController();
      const started = join(dir, 'started');
      const run = attempts(exitsZeroOnTerm(started), controller.signal);
      /** Cancels the attempt once its shell has set the trap. */
      const cancelledOnceTrapped: RetryOptions['attempt'] = async (n) => {
        const result = run(n);
        await waitFor(() => existsSync(started), 'the shell to set its trap');
        controller.abort();
        return result;
      };
      const out = await runWithRetries({ retries: 2, retryDelayMs: 10, log: sink, signal: controller.signal, attempt: cancelledOnceTrapped });
      expect(out.attempts.map((a) => [a.reason, a.exit_code])).to.deep.equal([['cancelled', 0]]);
      expect(out.cancelled).to.equal(true);
      expect(statusOf(out)).to.equal('cancelled');
    });

    it('takes an attempt reported cancelled at its word, even with the signal untouched', async () => {
      const signal = new AbortController().signal;
      const cancelled: AttemptResult = { ...exited(0), reason: 'cancelled', error: 'cancelled' };
      const out = await runWithRetries({ retries: 2, retryDelayMs: 0, log: sink, signal, attempt: async () => cancelled });
      expect(out.attempts).to.have.length(1);
      expect(out.cancelled).to.equal(true);
      expect(statusOf(out)).to.equal('cancelled');
    });
  });

  describe('a cancel that lands after an attempt returned', () => {
    /** An attempt that is cancelled just as it ends: the signal is aborted before its result comes back. */
    function abortsThenReturns(controller: AbortController, code: number): RetryOptions['attempt'] {
      return async () => {
        controller.abort();
        return exited(code);
      };
    }

    it('ends a failed attempt cancelled, with no retry', async () => {
      const controller = new AbortController();
      let retries = 0;
      const out = await runWithRetries({
        retries: 3, retryDelayMs: 0, log: sink, signal: controller.signal, attempt: abortsThenReturns(controller, 1), onRetry: () => void retries++,
      });
      expect(out.attempts.map((a) => a.exit_code)).to.deep.equal([1]);
      expect(out.cancelled).to.equal(true);
      expect(retries).to.equal(0);
      expect(sink.notes).to.deep.equal([]);
      expect(statusOf(out)).to.equal('cancelled');
    });

    it('keeps a successful attempt a success', async () => {
      const controller = new AbortController();
      const out = await runWithRetries({ retries: 3, retryDelayMs: 0, log: sink, signal: controller.signal, attempt: abortsThenReturns(controller, 0) });
      expect(out.attempts.map((a) => a.exit_code)).to.deep.equal([0]);
      expect(out.cancelled).to.equal(false);
      expect(statusOf(out)).to.equal('success');
    });
  });
});
