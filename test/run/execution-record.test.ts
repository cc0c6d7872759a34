import { expect } from 'chai';
import type { Execution } from '../../src/jobs/execution.js';
import { brokenExecution } from '../../src/run/execution-record.js';

const RUNNING: Execution = {
  id: 'exec-0000000000000000test', job_id: 'j', status: 'in_progress', trigger: 'schedule', scheduled_at: null,
  started_at: '2024-01-01T00:00:00.000Z', finished_at: null, duration: null, exit_code: null, signal: null, reason: null,
  output: '', error: null, retry_count: 0, attempts: [], log_route: '/x',
};

function errno(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

describe('run/execution-record brokenExecution', () => {
  it('records running out of descriptors, memory or processes while setting a run up as spawn_error', () => {
    for (const code of ['EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN']) {
      const e = brokenExecution(RUNNING, errno(code, `${code}: open '/data/x.pid'`), new Date('2024-01-01T00:00:01.000Z'));
      expect(e).to.include({ status: 'failure', reason: 'spawn_error', error: `cannot start: ${code}: open '/data/x.pid'`, duration: 1 });
    }
  });

  it('records any other error as an internal error', () => {
    const e = brokenExecution(RUNNING, errno('EIO', 'EIO: i/o error'), new Date('2024-01-01T00:00:01.000Z'));
    expect(e).to.include({ status: 'failure', reason: null, error: 'internal error: EIO: i/o error' });
  });
});
