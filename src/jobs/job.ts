/** The Job type: a validated, normalized job definition as the rest of watchbell sees it. */
import type { ContainerSpec } from './container-spec.js';
import type { NotifyRule } from './notify-rule.js';
import type { StepSpec } from './step.js';

export type ConcurrencyPolicy = 'forbid' | 'allow' | 'replace';
export type CatchUpPolicy = 'none' | 'latest';
export type JobStatus = 'active' | 'paused' | 'completed';
/** `label`: declared by a container's `watchbell.job.*` labels (daemon.docker_labels). */
export type JobSource = 'config' | 'api' | 'label';

/** Orders a list of jobs can be in (`GET /jobs?sort=`): a field, `-` first for newest first; ties in id order. */
export const JOB_SORTS = ['id', '-created_at', 'next_run', '-last_run'] as const;
export type JobSort = (typeof JOB_SORTS)[number];

/** The fields a user sets, in YAML or a request body, after validation and defaults. */
export interface JobSpec {
  name: string;
  /** `@manual` for a job that runs only by run-now, chains or restart (the field may be omitted). */
  schedule: string;
  timezone: string;
  /** A string runs under `/bin/sh -c`; an array runs without a shell. null for a job with `steps`. */
  command: string | string[] | null;
  tags: string[];
  /** Seconds per attempt. */
  timeout: number;
  retries: number;
  /** Seconds before each retry. */
  retry_delay: number;
  environment: Record<string, string>;
  /** Absolute path, or null for the daemon's cwd. */
  working_directory: string | null;
  concurrency: ConcurrencyPolicy;
  catch_up: CatchUpPolicy;
  /** Seconds. */
  starting_deadline: number;
  history_limit: number;
  /** Bytes of log kept per execution. */
  max_output: number;
  /**
   * Run the command as this user (a name or a numeric uid), when the daemon runs as root; null runs it as the
   * daemon's user. Optional only because jobs stored before it existed lack it: read it as `user ?? null`.
   */
  user?: string | number | null;
  /** Who hears about its executions (see notify-rule.ts). Optional only because jobs stored before it lack it: read it as `notify ?? []`. */
  notify?: NotifyRule[];
  /** Run the command in a container (see container-spec.ts); null runs it on the host. Optional only because jobs stored before it lack it: read it as `container ?? null`. */
  container?: ContainerSpec | null;
  /** The job's steps (step.ts), instead of `command`; absent for a one-command job. */
  steps?: StepSpec[];
  /** Jobs that get an execution (`trigger: chain`) when one of this job's succeeds; absent when none. */
  on_success?: string[];
  /** Jobs that get an execution (`trigger: chain`) when one of this job's fails; absent when none. */
  on_failure?: string[];
  /**
   * Cluster mode: runs only on a node whose `daemon.node_tags` hold every one of these pairs; absent when
   * empty. Ignored on the embedded store (one host).
   */
  run_on?: Record<string, string>;
}

/** A job as stored and scheduled. `status` is the only field that changes without an edit. */
export interface Job extends JobSpec {
  readonly id: string;
  readonly source: JobSource;
  status: JobStatus;
  created_at: string;
  updated_at: string;
}

/** Values a field takes when neither the job nor `defaults:` sets it (DESIGN.md §2). */
export const JOB_DEFAULTS: Readonly<Omit<JobSpec, 'name' | 'schedule' | 'command' | 'steps' | 'on_success' | 'on_failure' | 'run_on'>> = Object.freeze({
  /** Overridden by the daemon's `timezone`. */
  timezone: 'UTC',
  tags: [],
  /** One hour per attempt. */
  timeout: 3600,
  retries: 0,
  retry_delay: 60,
  environment: {},
  working_directory: null,
  concurrency: 'forbid' as ConcurrencyPolicy,
  catch_up: 'none' as CatchUpPolicy,
  starting_deadline: 3600,
  history_limit: 100,
  /** 10 MiB. */
  max_output: 10 * 1024 * 1024,
  /** The daemon's own user. */
  user: null,
  /** No notifications. */
  notify: [],
  /** On the host. */
  container: null,
});

/** The fields a request or config may set (everything in JobSpec, plus `id` and `status`). */
export const JOB_SPEC_FIELDS = [
  'name', 'schedule', 'timezone', 'command', 'tags', 'timeout', 'retries', 'retry_delay',
  'environment', 'working_directory', 'concurrency', 'catch_up', 'starting_deadline',
  'history_limit', 'max_output', 'user', 'notify', 'container', 'steps', 'on_success', 'on_failure', 'run_on',
] as const;

/** The schedule of a job without one: it never fires by itself. */
export const MANUAL_SCHEDULE = '@manual';
