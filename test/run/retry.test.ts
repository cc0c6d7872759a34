import { expect } from 'chai';
import { join } from 'node:path';
import { runAttempt, type AttemptResult } from '../../src/run/command.js';
import { runWithRetries, type RetryOptions } from '../../src/run/retry.js';
import { memorySink, tempDir, type MemorySink } from './helpers.js';

describe('run/retry runWithRetries', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let sink: MemorySink;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    sink = memorySink();
  });
  afterEach(() => cleanup());

  function attempts(command: string, signal: AbortSignal): RetryOptions['attempt'] {
    return () =>
      runAttempt({ command, environment: {}, workingDirectory: dir, timeoutMs: 5000, killGraceMs: 500, log: sink, signal });
  }

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
});
