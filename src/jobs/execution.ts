/** The Execution type: one triggered run of a job, with its attempts (DESIGN.md §3). */

export type ExecutionStatus = 'queued' | 'in_progress' | 'success' | 'failure' | 'cancelled' | 'skipped';
export type Trigger = 'schedule' | 'manual' | 'catch_up';
export type EndReason = 'exit' | 'timeout' | 'cancelled' | 'spawn_error' | 'interrupted' | 'overlap';

/** Statuses after which an execution never changes again. */
export const FINISHED_STATUSES: ReadonlySet<ExecutionStatus> = new Set(['success', 'failure', 'cancelled', 'skipped']);

export interface Attempt {
  started_at: string;
  finished_at: string | null;
  exit_code: number | null;
  signal: string | null;
  reason: EndReason | null;
  error: string | null;
}

export interface Execution {
  id: string;
  job_id: string;
  status: ExecutionStatus;
  trigger: Trigger;
  /** The slot it was for; null for manual runs. */
  scheduled_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  /** Seconds, null while running. */
  duration: number | null;
  exit_code: number | null;
  signal: string | null;
  reason: EndReason | null;
  /** The last 4 KiB of the combined log. */
  output: string;
  error: string | null;
  retry_count: number;
  attempts: Attempt[];
  log_route: string;
}

/** Bytes of log kept in `Execution.output`. */
export const OUTPUT_TAIL_BYTES = 4096;

/** The URL path of an execution's log. */
export function logRoute(jobId: string, executionId: string): string {
  return `/api/v1/jobs/${jobId}/executions/${executionId}/log`;
}
