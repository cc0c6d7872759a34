/** How a job looks in API responses: its fields, masked secrets, and the read-only ones. */
import type { Execution } from '../jobs/execution.js';
import type { Job, JobSpec } from '../jobs/job.js';
import { maskEnvironment } from '../jobs/validate-job.js';

export interface JobView extends Omit<JobSpec, 'steps' | 'run_on'> {
  run_on: Record<string, string>;
  steps: JobSpec['steps'] | null;
  id: string;
  source: Job['source'];
  status: Job['status'];
  created_at: string;
  updated_at: string;
  next_run: string | null;
  last_run: Execution | null;
}

/** The API shape of a job; environment values never leave the daemon. */
export function toJobView(job: Job, nextRun: Date | null, lastRun: Execution | null): JobView {
  return {
    id: job.id,
    name: job.name,
    schedule: job.schedule,
    timezone: job.timezone,
    command: job.command,
    tags: job.tags,
    timeout: job.timeout,
    retries: job.retries,
    retry_delay: job.retry_delay,
    environment: maskEnvironment(job.environment),
    working_directory: job.working_directory,
    concurrency: job.concurrency,
    catch_up: job.catch_up,
    starting_deadline: job.starting_deadline,
    history_limit: job.history_limit,
    max_output: job.max_output,
    user: job.user ?? null,
    notify: job.notify ?? [],
    container: job.container ?? null,
    steps: job.steps ? job.steps.map((st) => (st.environment ? { ...st, environment: maskEnvironment(st.environment) } : { ...st })) : null,
    on_success: job.on_success ?? [],
    on_failure: job.on_failure ?? [],
    run_on: job.run_on ?? {},
    status: job.status,
    source: job.source,
    created_at: job.created_at,
    updated_at: job.updated_at,
    next_run: job.status === 'active' && nextRun ? nextRun.toISOString() : null,
    last_run: lastRun,
  };
}
