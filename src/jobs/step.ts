/**
 * A job's `steps:` (DESIGN.md §9): an ordered list run one after another inside one execution. A step keeps
 * only the fields it sets; the job's fields are the defaults for the rest, resolved when it runs (resolveStep),
 * so editing the job's `timeout` reaches every step that sets none.
 */
import { createHash } from 'node:crypto';
import type { SchemaObject } from 'ajv';
import { CONTAINER_SCHEMA, type ContainerSpec } from './container-spec.js';
import { JOB_ID_PATTERN } from './ids.js';

export type StepCondition = 'success' | 'failure' | 'always';

/** One step as written (after validation): unset fields are absent, taken from the job when it runs. */
export interface StepSpec {
  name: string;
  /** Absent for a `wait` step. */
  command?: string | string[];
  /** Run the command in a container (as a job's `container:`); null: on the host even if the job sets one. */
  container?: ContainerSpec | null;
  /** A manual gate: no command; the execution waits for `advance` (or cancel) up to `timeout` seconds. */
  wait?: { timeout: number };
  /** Seconds per attempt. */
  timeout?: number;
  retries?: number;
  /** Seconds. */
  retry_delay?: number;
  /** Added over the job's environment. */
  environment?: Record<string, string>;
  working_directory?: string | null;
  /** When it runs: `success` (default) while no earlier step failed, `failure` once one did, `always` both. */
  if?: StepCondition;
  /** A failure of this step does not fail the execution or skip the steps after it. */
  continue_on_error?: boolean;
}

/** A step with the job's defaults filled in: what the runner runs. */
export interface ResolvedStep {
  name: string;
  command: string | string[] | null;
  container: ContainerSpec | null;
  wait: { timeout: number } | null;
  timeout: number;
  retries: number;
  retry_delay: number;
  environment: Record<string, string>;
  working_directory: string | null;
  if: StepCondition;
  continue_on_error: boolean;
}

/** The job fields a step inherits. */
export interface StepDefaults {
  timeout: number;
  retries: number;
  retry_delay: number;
  environment: Record<string, string>;
  working_directory: string | null;
  container?: ContainerSpec | null;
}

/** Longest a `wait` step may wait by default: one day. */
export const DEFAULT_WAIT_SECONDS = 24 * 3600;

/** A step with the job's values for the fields it leaves out; its environment goes over the job's. */
export function resolveStep(step: StepSpec, job: StepDefaults): ResolvedStep {
  return {
    name: step.name,
    command: step.command ?? null,
    container: step.wait ? null : step.container !== undefined ? step.container : (job.container ?? null),
    wait: step.wait ?? null,
    timeout: step.timeout ?? job.timeout,
    retries: step.retries ?? job.retries,
    retry_delay: step.retry_delay ?? job.retry_delay,
    environment: { ...job.environment, ...(step.environment ?? {}) },
    working_directory: step.working_directory !== undefined ? step.working_directory : job.working_directory,
    if: step.if ?? 'success',
    continue_on_error: step.continue_on_error ?? false,
  };
}

/**
 * A digest of what a resolved step does, kept in its record: a restart reuses a step that succeeded only while
 * its definition is the same. The API shows it, so environment values (secrets) are not part of it, only the
 * names: a step whose only change is a variable's value is reused.
 */
export function stepDigest(step: ResolvedStep): string {
  const fields = [step.name, step.command, step.container, step.wait, step.timeout, step.retries, step.retry_delay,
    Object.keys(step.environment).sort(), step.working_directory, step.if, step.continue_on_error];
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex').slice(0, 16);
}

/** `WATCHBELL_STEP_<STEP>_<KEY>` (or any prefix): upper-cased, every character but A-Z 0-9 as `_`. */
export function envName(...parts: string[]): string {
  return parts.map((p) => p.toUpperCase().replace(/[^A-Z0-9]/g, '_')).join('_');
}

/** The schema of one step; `command`, `environment` and the like are the job's own field schemas. */
export function stepSchema(jobProperties: Record<string, SchemaObject>): SchemaObject {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    properties: {
      name: { type: 'string', pattern: JOB_ID_PATTERN },
      command: jobProperties.command!,
      container: CONTAINER_SCHEMA,
      wait: { type: 'object', additionalProperties: false, properties: { timeout: jobProperties.timeout! } },
      timeout: jobProperties.timeout!,
      retries: jobProperties.retries!,
      retry_delay: jobProperties.retry_delay!,
      environment: jobProperties.environment!,
      working_directory: jobProperties.working_directory!,
      if: { enum: ['success', 'failure', 'always'] },
      continue_on_error: { type: 'boolean' },
    },
  };
}

/** What each step field accepts, for messages (keys as `steps.FIELD`). */
export const STEP_EXPECTATIONS: Readonly<Record<string, string>> = {
  steps: 'a list of 1..100 steps, each {name, command | container + command | wait, timeout, retries, retry_delay, environment, working_directory, if, continue_on_error}',
  'steps.name': 'a step name: 1..63 lowercase letters, digits, "_", "." or "-", starting with a letter or digit, unique in the job',
  'steps.wait': '{timeout: DURATION}: a manual gate, advanced by POST .../advance; no command',
  'steps.if': 'one of "success", "failure", "always"',
  'steps.continue_on_error': 'true or false',
};
