/** The checks of a job's `steps:` that its JSON Schema cannot make, and steps turned into StepSpecs. */
import { statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { checkContainer, normalizeContainer } from './container-spec.js';
import { parseDuration } from './duration.js';
import type { FieldError } from './errors.js';
import { label, showValue } from './schema-validator.js';
import { DEFAULT_WAIT_SECONDS, type StepSpec } from './step.js';

type RawStep = Record<string, unknown>;

/**
 * Problems of schema-valid steps: a name used twice, a step with neither command nor wait (or a wait with a
 * command), bad durations, a relative or missing working_directory, container fields as checkContainer sees them.
 * `job` is the merged job, for the fields a step inherits.
 */
export function checkSteps(steps: unknown, job: Record<string, unknown>, prefix: string): FieldError[] {
  if (!Array.isArray(steps)) return [];
  const errors: FieldError[] = [];
  const seen = new Map<string, number>();
  steps.forEach((raw: RawStep, i) => {
    const at = `${prefix}/steps/${i}`;
    const bad = (field: string, message: string) => {
      const path = field ? `${at}/${field}` : at;
      errors.push({ path, message: `${label(path)}: ${message}` });
    };
    const name = String(raw.name);
    const first = seen.get(name);
    if (first !== undefined) bad('name', `${showValue(name)} is already the name of step ${first}; step names must be unique in a job`);
    else seen.set(name, i);
    if (raw.wait !== undefined) {
      for (const k of ['command', 'container', 'retries', 'retry_delay', 'timeout', 'environment', 'working_directory']) {
        if (raw[k] !== undefined) bad(k, `a wait step runs nothing, so it takes no ${k}; give the wait its own timeout as wait: {timeout: 12h}`);
      }
      const t = (raw.wait as { timeout?: unknown }).timeout;
      if (t !== undefined && !(parseDuration(t)! > 0)) bad('wait/timeout', `${showValue(t)} is invalid; expected a duration of at least 1s`);
      return;
    }
    if (raw.command === undefined) bad('', `step ${showValue(name)} has no command; expected command (with container to run it in one) or wait`);
    for (const field of ['timeout', 'retry_delay'] as const) {
      if (raw[field] === undefined) continue;
      const s = parseDuration(raw[field]);
      if (s === null || (field === 'timeout' && s === 0)) bad(field, `${showValue(raw[field])} is invalid; expected a duration${field === 'timeout' ? ' of at least 1s' : ''}`);
    }
    const container = raw.container !== undefined ? raw.container : job.container;
    const inContainer = container !== null && container !== undefined;
    if (raw.container !== undefined && inContainer) {
      errors.push(...checkContainer({ container, user: job.user, working_directory: raw.working_directory ?? job.working_directory }, at));
    }
    const wd = raw.working_directory;
    if (typeof wd === 'string' && !inContainer) {
      if (!isAbsolute(wd)) bad('working_directory', `${showValue(wd)} is not an absolute path; expected an absolute path to an existing directory`);
      else if (!isDirectory(wd)) bad('working_directory', `${showValue(wd)} does not exist or is not a directory`);
    }
  });
  return errors;
}

/** Checked steps as StepSpecs: durations in seconds, containers normalized, unset fields left out. */
export function normalizeSteps(steps: unknown): StepSpec[] {
  return (steps as RawStep[]).map((raw) => {
    const step: StepSpec = { name: String(raw.name) };
    if (raw.wait !== undefined) {
      const t = (raw.wait as { timeout?: unknown }).timeout;
      step.wait = { timeout: t === undefined ? DEFAULT_WAIT_SECONDS : parseDuration(t)! };
    }
    if (raw.command !== undefined) step.command = raw.command as string | string[];
    if (raw.container !== undefined) step.container = normalizeContainer(raw.container);
    if (raw.timeout !== undefined) step.timeout = parseDuration(raw.timeout)!;
    if (raw.retries !== undefined) step.retries = raw.retries as number;
    if (raw.retry_delay !== undefined) step.retry_delay = parseDuration(raw.retry_delay)!;
    if (raw.environment !== undefined) step.environment = { ...(raw.environment as Record<string, string>) };
    if (raw.working_directory !== undefined) step.working_directory = raw.working_directory as string | null;
    if (raw.if !== undefined) step.if = raw.if as StepSpec['if'];
    if (raw.continue_on_error !== undefined) step.continue_on_error = raw.continue_on_error as boolean;
    return step;
  });
}

/** True when `path` is an existing directory. */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
