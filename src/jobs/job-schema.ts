/** The JSON Schema of a job as written in YAML or sent to the API; the one source for both. */
import type { SchemaObject } from 'ajv';
import { CONTAINER_EXPECTATIONS, CONTAINER_SCHEMA } from './container-spec.js';
import { JOB_ID_PATTERN } from './ids.js';
import { NOTIFY_EXPECTATION, NOTIFY_SCHEMA } from './notify-rule.js';
import { STEP_EXPECTATIONS, stepSchema } from './step.js';

/**
 * Integer seconds or a duration string such as `90s`, `5m`, `1h30m`, `1d`. The pattern must stay linear: ajv
 * tests it whatever the length (allErrors), and an older one, whose units were all optional, took quadratic
 * time on a string of spaces (a minute for 200 KB, with the event loop blocked). The lookahead makes the
 * units start at the first digit.
 */
export const DURATION_SCHEMA: SchemaObject = {
  anyOf: [
    { type: 'integer', minimum: 0 },
    { type: 'string', pattern: '^\\s*(?=\\d)(\\d+|(\\d+d)?(\\d+h)?(\\d+m)?(\\d+s)?)\\s*$', minLength: 1, maxLength: 64 },
  ],
};

/** What a user can write for each field, used in messages where ajv's words would be vague. */
export const FIELD_EXPECTATIONS: Readonly<Record<string, string>> = {
  id: 'a job id: 1..63 lowercase letters, digits, "_", "." or "-", starting with a letter or digit, without ".."',
  name: 'a non-empty string of at most 200 characters',
  schedule: 'a cron expression, @daily-style macro, "@every <duration>" or ISO-8601 instant',
  timezone: 'an IANA time zone name such as "Europe/Berlin"',
  command: 'a non-empty string, or a non-empty array of strings',
  tags: 'an array of at most 50 strings of 1..64 characters',
  timeout: 'a duration of at least 1s: integer seconds or a string such as "90s", "5m", "1h30m"',
  retries: 'an integer from 0 to 100',
  retry_delay: 'a duration: integer seconds or a string such as "90s", "5m", "1h30m"',
  environment: 'a map of variable names (letters, digits, _) to string values (without NUL)',
  working_directory: 'an absolute path to an existing directory',
  concurrency: 'one of "forbid", "allow", "replace"',
  catch_up: 'one of "none", "latest"',
  starting_deadline: 'a duration: integer seconds or a string such as "90s", "5m", "1h30m"',
  history_limit: 'an integer from 1 to 100000',
  max_output: 'an integer number of bytes from 1024 to 1073741824',
  status: 'one of "active", "paused"',
  user: 'a user name or numeric uid from /etc/passwd, or null for the daemon\'s own user',
  notify: NOTIFY_EXPECTATION,
  ...CONTAINER_EXPECTATIONS,
  ...STEP_EXPECTATIONS,
  on_success: 'a list of job ids run (trigger "chain") when an execution of this job succeeds',
  on_failure: 'a list of job ids run (trigger "chain") when an execution of this job fails',
  run_on: 'a mapping of tag names to strings, such as {zone: eu-1}, matched against daemon.node_tags',
};

/** Every job field's schema; the config's `defaults:` reuses them. */
export const JOB_PROPERTIES: Record<string, SchemaObject> = {
  name: { type: 'string', minLength: 1, maxLength: 200 },
  // Spaces and tabs only between fields: a `\r`, a line break or U+2028 there would rewrite or split a row
  // wherever a schedule is printed (one character per step: linear).
  schedule: { type: 'string', minLength: 1, maxLength: 200, pattern: '^(?:[ \\t]|[^\\s\\x00-\\x1f\\x7f-\\x9f])*$' },
  timezone: { type: 'string', minLength: 1, maxLength: 64 },
  command: {
    anyOf: [
      { type: 'string', minLength: 1, maxLength: 65536 },
      { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'string', maxLength: 65536 } },
    ],
  },
  tags: { type: 'array', maxItems: 50, items: { type: 'string', minLength: 1, maxLength: 64 } },
  timeout: { ...DURATION_SCHEMA },
  retries: { type: 'integer', minimum: 0, maximum: 100 },
  retry_delay: { ...DURATION_SCHEMA },
  environment: {
    type: 'object',
    maxProperties: 200,
    propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$', maxLength: 128 },
    // NUL cannot be in an environment variable: the spawn would fail, naming the value in its error.
    additionalProperties: { type: 'string', maxLength: 65536, pattern: '^[^\\u0000]*$' },
  },
  working_directory: { type: ['string', 'null'], maxLength: 4096 },
  concurrency: { enum: ['forbid', 'allow', 'replace'] },
  catch_up: { enum: ['none', 'latest'] },
  starting_deadline: { ...DURATION_SCHEMA },
  history_limit: { type: 'integer', minimum: 1, maximum: 100000 },
  max_output: { type: 'integer', minimum: 1024, maximum: 1073741824 },
  user: {
    anyOf: [
      { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*\\$?$' },
      { type: 'integer', minimum: 0, maximum: 4294967294 },
      { type: 'null' },
    ],
  },
  notify: NOTIFY_SCHEMA,
  container: CONTAINER_SCHEMA,
  // Cluster mode: the job runs only on nodes whose daemon.node_tags hold every pair (ignored on one host).
  run_on: {
    type: 'object',
    maxProperties: 20,
    propertyNames: { pattern: '^[A-Za-z0-9_.-]+$', maxLength: 64 },
    additionalProperties: { type: 'string', maxLength: 200 },
  },
};
JOB_PROPERTIES.steps = { type: 'array', minItems: 1, maxItems: 100, items: stepSchema(JOB_PROPERTIES) };
const JOB_LIST: SchemaObject = { type: 'array', maxItems: 100, uniqueItems: true, items: { type: 'string', pattern: JOB_ID_PATTERN } };
JOB_PROPERTIES.on_success = JOB_LIST;
JOB_PROPERTIES.on_failure = JOB_LIST;

/** Fields that belong to one job only, never to `defaults:`. */
const OWN_FIELDS = new Set(['name', 'schedule', 'command', 'steps', 'on_success', 'on_failure']);

/** A job in YAML (its id is its key) or in a request body (`id` optional, `status` to create it paused). */
export const JOB_INPUT_SCHEMA: SchemaObject = {
  $id: 'watchbell:job',
  title: 'watchbell job',
  description: 'A job has `command` or `steps`, exactly one of the two. Without `schedule` (or with "@manual") it runs only by run-now, chains or restart.',
  type: 'object',
  required: [],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: JOB_ID_PATTERN },
    ...JOB_PROPERTIES,
    status: { enum: ['active', 'paused'] },
  },
};

/** `defaults:` in the config: any job field but the ones that identify a job. */
export const JOB_DEFAULTS_SCHEMA: SchemaObject = {
  $id: 'watchbell:job-defaults',
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(
    Object.entries(JOB_PROPERTIES).filter(([k]) => !OWN_FIELDS.has(k)),
  ),
};
