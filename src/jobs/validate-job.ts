/** Turns raw job input (YAML or JSON) into a JobSpec, or a list of every bad field. */
import { isAbsolute } from 'node:path';
import { parseDuration } from './duration.js';
import { checkContainer, normalizeContainer } from './container-spec.js';
import { WatchbellError, type FieldError } from './errors.js';
import { isValidJobId } from './ids.js';
import { JOB_DEFAULTS, MANUAL_SCHEDULE, type JobSpec, type JobStatus } from './job.js';
import { FIELD_EXPECTATIONS, JOB_DEFAULTS_SCHEMA, JOB_INPUT_SCHEMA } from './job-schema.js';
import { normalizeNotify, unknownNotifiers } from './notify-rule.js';
import { isValidTimezone, parseSchedule, ScheduleError } from './schedule-spec.js';
import type { StepSpec } from './step.js';
import { checkSteps, isDirectory, normalizeSteps } from './validate-steps.js';
import { addSchema, checkSchema, compileLater, label, showValue } from './schema-validator.js';
import { daemonUid, lookupUser, PASSWD_FILE } from './system-user.js';

addSchema(JOB_INPUT_SCHEMA);
addSchema(JOB_DEFAULTS_SCHEMA);
const validateInput = compileLater(JOB_INPUT_SCHEMA);
const validateDefaults = compileLater(JOB_DEFAULTS_SCHEMA);

/** The value a secret has in every response. */
export const SECRET_MASK = '******';

export interface ValidateJobOptions {
  /** The daemon's `timezone`, for jobs that set none. */
  timezone: string;
  /** `defaults:` from the config, merged under the job. */
  defaults?: Record<string, unknown>;
  /** Prefix for error paths, e.g. `/jobs/backup` for a config job. */
  path?: string;
  /** The current job, for an update: its values fill fields the input leaves out. */
  existing?: JobSpec;
  /** Names of the notifiers declared in the config; `notify:` entries must name one of them. Unchecked when absent. */
  notifiers?: readonly string[];
}

export interface ValidatedJob {
  id?: string;
  status?: JobStatus;
  spec: JobSpec;
}

/** What a job field (path `/timeout`, `/command/0`, `/container/pull`, ...) accepts, for messages; a nested key's own first. */
const describeField = {
  describe: (path: string): string | undefined => {
    const [, field = '', key, stepField] = path.split('/');
    if (field === 'steps' && stepField !== undefined) return FIELD_EXPECTATIONS[`steps.${stepField}`] ?? FIELD_EXPECTATIONS[stepField];
    return (key !== undefined ? FIELD_EXPECTATIONS[`${field}.${key}`] : undefined) ?? FIELD_EXPECTATIONS[field];
  },
};

/** Checks `defaults:` of a config (its `notify:` entries against `notifiers` when given); returns its bad fields. */
export function checkJobDefaults(defaults: unknown, path = '/defaults', notifiers?: readonly string[]): FieldError[] {
  const errors = checkSchema(validateDefaults(), defaults, describeField).map((e) => prefixed(e, path));
  const notify = (defaults as { notify?: unknown } | null)?.notify;
  if (notifiers && !errors.some((e) => e.path.startsWith(`${path}/notify`))) errors.push(...unknownNotifiers(normalizeNotify(notify), notifiers, path));
  return errors;
}

function prefixed(e: FieldError, prefix: string): FieldError {
  if (!prefix) return e;
  const path = prefix + e.path;
  const msg = e.message.replace(/^[^:]*:/, `${label(path)}:`);
  return { path, message: msg };
}

/**
 * Validates one job. Throws WatchbellError VALIDATION_FAILED whose `details` name every bad field
 * (JSON paths under `options.path`).
 */
export function validateJob(input: unknown, options: ValidateJobOptions): ValidatedJob {
  const prefix = options.path ?? '';
  // A job read back answers `command: null` (with steps) or `steps: null` (with a command): sent back, they mean "none".
  if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
    const { command, steps, ...rest } = input as Record<string, unknown>;
    input = { ...rest, ...(command !== null && command !== undefined ? { command } : {}), ...(steps !== null && steps !== undefined ? { steps } : {}) };
  }
  // An update needs only the fields that change; the required ones come from the stored job.
  const existing = options.existing;
  if (existing && input !== null && typeof input === 'object' && !Array.isArray(input)) {
    // A job has command or steps: an update that sends one replaces the other.
    const sends = (k: string) => Object.hasOwn(input as object, k);
    const body = sends('command') || sends('steps') ? {} : existing.steps ? { steps: existing.steps } : { command: existing.command };
    input = { schedule: existing.schedule, ...body, ...input };
  }
  const errors = checkSchema(validateInput(), input, describeField).map((e) => prefixed(e, prefix));
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw invalid(errors);
  // Fields that failed the schema are not checked further, so each gets one message; the rest still are.
  const failed = new Set(errors.map((e) => e.path.slice(prefix.length).split('/')[1]));
  const raw = Object.fromEntries(Object.entries(input).filter(([k]) => !failed.has(k)));

  const { command: _c, steps: _s, ...kept } = options.existing ?? {};
  const merged: Record<string, unknown> = {
    ...JOB_DEFAULTS,
    timezone: options.timezone,
    schedule: MANUAL_SCHEDULE,
    ...(options.defaults ?? {}),
    ...kept,
    ...raw,
  };
  if (options.existing && raw.environment && typeof raw.environment === 'object') {
    // A client that read the job back sees masked values; sending the mask keeps the stored one.
    const env: Record<string, string> = { ...(raw.environment as Record<string, string>) };
    for (const [k, v] of Object.entries(env)) {
      if (v === SECRET_MASK && Object.hasOwn(options.existing.environment, k)) env[k] = options.existing.environment[k]!;
    }
    merged.environment = env;
  }

  const bad = (field: string, message: string) => {
    const path = `${prefix}/${field}`;
    errors.push({ path, message: `${label(path)}: ${message}` });
  };
  if (raw.id !== undefined && !isValidJobId(raw.id)) bad('id', `${showValue(raw.id)} is invalid; expected ${FIELD_EXPECTATIONS.id}`);
  const timezone = String(merged.timezone);
  if (failed.has('timezone') || failed.has('schedule') || merged.schedule === undefined) {
    // Already reported.
  } else if (!isValidTimezone(timezone)) {
    bad('timezone', `${showValue(timezone)} is not a known time zone; expected ${FIELD_EXPECTATIONS.timezone}`);
  } else {
    try {
      parseSchedule(String(merged.schedule), timezone);
    } catch (err) {
      if (!(err instanceof ScheduleError)) throw err;
      bad('schedule', `${err.message}; expected ${FIELD_EXPECTATIONS.schedule}`);
    }
  }
  const seconds: Record<string, number> = {};
  for (const field of ['timeout', 'retry_delay', 'starting_deadline'] as const) {
    const s = parseDuration(merged[field]);
    if (failed.has(field)) continue;
    if (s === null) bad(field, `${showValue(merged[field])} is invalid; expected ${FIELD_EXPECTATIONS[field]}`);
    else seconds[field] = s;
  }
  if (seconds.timeout === 0) bad('timeout', `0 is invalid; expected ${FIELD_EXPECTATIONS.timeout}`);
  // A container job's host-only fields are refused by checkContainer, with one message each.
  const inContainer = merged.container !== null && merged.container !== undefined;
  if (inContainer && !failed.has('container')) errors.push(...checkContainer(merged, prefix));
  const wd = (merged.working_directory ?? null) as string | null;
  if (wd !== null && !failed.has('working_directory') && !inContainer) {
    if (!isAbsolute(wd)) bad('working_directory', `${showValue(wd)} is not an absolute path; expected ${FIELD_EXPECTATIONS.working_directory}`);
    else if (!isDirectory(wd)) bad('working_directory', `${showValue(wd)} does not exist or is not a directory; expected ${FIELD_EXPECTATIONS.working_directory}`);
  }
  if (!failed.has('environment') && raw.environment && typeof raw.environment === 'object') {
    const stored = options.existing?.environment ?? {};
    for (const [k, v] of Object.entries(raw.environment as Record<string, unknown>)) {
      // The mask only ever means "keep the stored value"; stored as a value it would silently replace a secret.
      if (v === SECRET_MASK && !Object.hasOwn(stored, k)) {
        bad(`environment/${k}`, `${JSON.stringify(SECRET_MASK)} keeps a stored value, but there is none to keep; send the value itself`);
      }
    }
  }
  const hasSteps = (input as Record<string, unknown>).steps !== undefined;
  const hasCommand = (input as Record<string, unknown>).command !== undefined;
  if (hasSteps && hasCommand) bad('steps', 'a job has command or steps, not both; remove one');
  else if (!hasSteps && !hasCommand) bad('command', 'is required (or steps); expected a command, or steps: a list of steps');
  if (hasSteps && !failed.has('steps') && !hasCommand) errors.push(...checkSteps(raw.steps, merged, prefix));
  const notify = normalizeNotify(merged.notify);
  if (options.notifiers && !failed.has('notify')) errors.push(...unknownNotifiers(notify, options.notifiers, prefix));
  const user = (merged.user ?? null) as string | number | null;
  if (user !== null && !failed.has('user') && !inContainer) {
    const uid = daemonUid();
    if (uid !== 0) {
      bad('user', `${showValue(user)} cannot be used: running a job as another user needs a daemon running as root, and this one runs as uid ${uid ?? 'unknown'}; remove user (or set it to null), or run the daemon as root`);
    } else if (!lookupUser(user)) {
      bad('user', `no user ${showValue(user)} in ${PASSWD_FILE}; expected ${FIELD_EXPECTATIONS.user}`);
    }
  }
  if (errors.length > 0) throw invalid(errors);

  const spec: JobSpec = {
    name: typeof raw.name === 'string' ? raw.name : (options.existing?.name ?? (raw.id as string | undefined) ?? ''),
    schedule: String(merged.schedule).trim(),
    timezone,
    command: hasSteps ? null : (merged.command as string | string[]),
    tags: [...(merged.tags as string[])],
    timeout: seconds.timeout!,
    retries: merged.retries as number,
    retry_delay: seconds.retry_delay!,
    environment: { ...(merged.environment as Record<string, string>) },
    working_directory: wd,
    concurrency: merged.concurrency as JobSpec['concurrency'],
    catch_up: merged.catch_up as JobSpec['catch_up'],
    starting_deadline: seconds.starting_deadline!,
    history_limit: merged.history_limit as number,
    max_output: merged.max_output as number,
    user,
    notify,
    container: normalizeContainer(merged.container),
  };
  if (hasSteps) spec.steps = keepMaskedStepSecrets(normalizeSteps(raw.steps), options.existing?.steps);
  for (const k of ['on_success', 'on_failure'] as const) {
    const list = merged[k] as string[] | undefined;
    if (list && list.length > 0) spec[k] = [...list];
  }
  const runOn = merged.run_on as Record<string, string> | undefined;
  if (runOn && Object.keys(runOn).length > 0) spec.run_on = { ...runOn };
  const out: ValidatedJob = { spec };
  if (typeof raw.id === 'string') out.id = raw.id;
  if (raw.status === 'active' || raw.status === 'paused') out.status = raw.status;
  return out;
}

/** A step environment value sent as the mask keeps the stored value of the same step's same variable. */
function keepMaskedStepSecrets(steps: StepSpec[], stored: StepSpec[] | undefined): StepSpec[] {
  if (!stored) return steps;
  return steps.map((step) => {
    const old = stored.find((s) => s.name === step.name)?.environment;
    if (!step.environment || !old) return step;
    const env = Object.fromEntries(Object.entries(step.environment).map(([k, v]) => [k, v === SECRET_MASK && Object.hasOwn(old, k) ? old[k]! : v]));
    return { ...step, environment: env };
  });
}

function invalid(details: FieldError[]): WatchbellError {
  const first = details[0]!.message;
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
  return new WatchbellError('VALIDATION_FAILED', `${first}${more}`, { details });
}


/** A job as the API shows it: environment values masked. */
export function maskEnvironment(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(env).map((k) => [k, SECRET_MASK]));
}
