/** Executions and notifications for in-process notification tests. */
import type { Execution } from '../../src/jobs/execution.js';
import { linksFor, type Notification } from '../../src/notify/notification.js';
import type { JobView } from '../../src/service/job-view.js';

/** A finished execution of job `backup`. */
export function execution(over: Partial<Execution> = {}): Execution {
  return {
    id: 'exec-0001', job_id: 'backup', status: 'failure', trigger: 'schedule', scheduled_at: '2024-05-01T00:00:00.000Z',
    started_at: '2024-05-01T00:00:00.010Z', finished_at: '2024-05-01T00:01:12.510Z', duration: 72.5, exit_code: 1, signal: null,
    reason: 'exit', output: 'starting\ndone badly\n', error: 'exited with code 1', retry_count: 0,
    attempts: [{ started_at: '2024-05-01T00:00:00.010Z', finished_at: '2024-05-01T00:01:12.510Z', exit_code: 1, signal: null, reason: 'exit', error: 'exited with code 1' }],
    log_route: '/api/v1/jobs/backup/executions/exec-0001/log', ...over,
  };
}

/** A notification for job `backup` ("Backup DB"). */
export function notification(over: Partial<Notification> = {}, exec: Partial<Execution> = {}): Notification {
  const e = execution(exec);
  return { id: 'n-1', event: 'failure', job: { id: 'backup', name: 'Backup DB', environment: { PGPASSWORD: '******' } } as unknown as JobView, execution: e, links: linksFor('https://cron.example.com', e), ...over };
}
