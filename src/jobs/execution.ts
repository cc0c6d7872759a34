/** The Execution type: one triggered run of a job, with its attempts (DESIGN.md §3). */

/** `waiting`: held at a `wait` step until it is advanced, cancelled or times out (it holds no slot meanwhile). */
export type ExecutionStatus = 'queued' | 'in_progress' | 'waiting' | 'success' | 'failure' | 'cancelled' | 'skipped';
export type Trigger = 'schedule' | 'manual' | 'catch_up' | 'restart' | 'chain';
/** `paused`: a chained execution not run because its job is paused. `no_node`: cluster mode, no live node matches the job's `run_on`. */
export type EndReason = 'exit' | 'timeout' | 'cancelled' | 'spawn_error' | 'interrupted' | 'overlap' | 'paused' | 'no_node';
export type StepStatus = 'pending' | 'in_progress' | 'waiting' | 'success' | 'failure' | 'cancelled' | 'skipped';

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

/** One step of a multi-step execution (jobs/step.ts). */
export interface StepRecord {
  name: string;
  status: StepStatus;
  started_at: string | null;
  finished_at: string | null;
  duration: number | null;
  exit_code: number | null;
  signal: string | null;
  reason: EndReason | null;
  error: string | null;
  retry_count: number;
  attempts: Attempt[];
  /** What it wrote to `$WATCHBELL_OUTPUT` (or the outputs an advance gave it). */
  outputs: Record<string, string>;
  /** Taken over, with its outputs, from the execution a restart restarted. */
  reused: boolean;
  /** Digest of its definition when it ran (step.ts stepDigest): a restart reruns a step whose digest changed. */
  digest: string;
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
  /** A job with steps: one record per step, in order. */
  steps?: StepRecord[];
  /** `trigger: restart`: the execution it restarted. */
  restarted_from?: string;
  /** `trigger: chain`: the execution whose end triggered it. */
  triggered_by?: { job_id: string; execution_id: string };
  /** Names of the environment variables a run-now overrode (values are never kept). */
  parameters?: string[];
  /** Cluster mode: the node (`daemon.node`) that ran it. */
  node?: string;
}

/** Bytes of log kept in `Execution.output`. */
export const OUTPUT_TAIL_BYTES = 4096;

/** The URL path of an execution's log. */
export function logRoute(jobId: string, executionId: string): string {
  return `/api/v1/jobs/${jobId}/executions/${executionId}/log`;
}
