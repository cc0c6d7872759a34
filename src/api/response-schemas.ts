/**
 * JSON Schemas (2020-12, as OpenAPI 3.1 uses) of what the API answers: a job, an execution, an
 * error, a page. Request bodies are described by the schemas the validator uses (jobs/job-schema.ts);
 * these describe the other direction. `$ref`s point into the OpenAPI document's components.
 */
import type { SchemaObject } from 'ajv';
import { JOB_ID_PATTERN } from '../jobs/ids.js';
import { DURATION_SCHEMA, JOB_PROPERTIES } from '../jobs/job-schema.js';
import { SECRET_MASK } from '../jobs/validate-job.js';

/** `#/components/schemas/NAME`. */
export function schemaRef(name: string): SchemaObject {
  return { $ref: `#/components/schemas/${name}` };
}

export const EXECUTION_ID_PATTERN = '^exec-[0-9a-z]{20}$';
export const JOB_STATUSES = ['active', 'paused', 'completed'] as const;
export const EXECUTION_STATUSES = ['queued', 'in_progress', 'waiting', 'success', 'failure', 'cancelled', 'skipped'] as const;
const TRIGGERS = ['schedule', 'manual', 'catch_up', 'restart', 'chain'];
const END_REASONS = ['exit', 'timeout', 'cancelled', 'spawn_error', 'interrupted', 'overlap', 'paused'];
const STEP_STATUSES = ['pending', 'in_progress', 'waiting', 'success', 'failure', 'cancelled', 'skipped'];

const timestamp: SchemaObject = { type: 'string', format: 'date-time' };
const nullableTimestamp: SchemaObject = { type: ['string', 'null'], format: 'date-time' };
const nullableString: SchemaObject = { type: ['string', 'null'] };

/** All properties required, none other allowed: responses always carry every field. */
function closed(properties: Record<string, SchemaObject>, extra: SchemaObject = {}): SchemaObject {
  return { type: 'object', additionalProperties: false, required: Object.keys(properties), properties, ...extra };
}

export const ATTEMPT_SCHEMA: SchemaObject = closed(
  {
    started_at: timestamp,
    finished_at: nullableTimestamp,
    exit_code: { type: ['integer', 'null'] },
    signal: nullableString,
    reason: { enum: [...END_REASONS, null] },
    error: nullableString,
  },
  { description: 'One attempt of an execution; retries are further attempts.' },
);

export const STEP_RECORD_SCHEMA: SchemaObject = closed(
  {
    name: { type: 'string' },
    status: { enum: STEP_STATUSES },
    started_at: nullableTimestamp,
    finished_at: nullableTimestamp,
    duration: { type: ['number', 'null'], minimum: 0 },
    exit_code: { type: ['integer', 'null'], description: 'of its last attempt' },
    signal: nullableString,
    reason: { enum: [...END_REASONS, null] },
    error: nullableString,
    retry_count: { type: 'integer', minimum: 0 },
    attempts: { type: 'array', items: schemaRef('Attempt') },
    outputs: { type: 'object', additionalProperties: { type: 'string' }, description: 'what it wrote to $WATCHBELL_OUTPUT, or an advance gave it' },
    reused: { type: 'boolean', description: 'taken over, with its outputs, from the execution a restart restarted' },
    digest: { type: 'string', description: 'of its definition when it ran; a restart reruns a step whose definition changed' },
  },
  { description: 'One step of a multi-step execution.' },
);

/** Fields an execution has only when they apply. */
const OPTIONAL_EXECUTION_FIELDS = ['steps', 'restarted_from', 'triggered_by', 'parameters', 'node'];

const closedExecution = closed(
  {
    id: { type: 'string', pattern: EXECUTION_ID_PATTERN },
    job_id: { type: 'string', pattern: JOB_ID_PATTERN },
    status: { enum: [...EXECUTION_STATUSES] },
    trigger: { enum: TRIGGERS },
    scheduled_at: { ...nullableTimestamp, description: 'the slot it was for; null for manual runs' },
    started_at: nullableTimestamp,
    finished_at: nullableTimestamp,
    duration: { type: ['number', 'null'], minimum: 0, description: 'seconds; null while running' },
    exit_code: { type: ['integer', 'null'], description: 'of the last attempt' },
    signal: { ...nullableString, description: 'that ended the last attempt' },
    reason: { enum: [...END_REASONS, null], description: 'why it ended' },
    output: { type: 'string', description: 'the last 4 KiB of the combined log' },
    error: { ...nullableString, description: 'one line for people' },
    retry_count: { type: 'integer', minimum: 0 },
    attempts: { type: 'array', items: schemaRef('Attempt') },
    log_route: { type: 'string', description: 'URL path of its log' },
    steps: { type: 'array', items: schemaRef('StepRecord'), description: 'a job with steps: one record per step, in order' },
    restarted_from: { type: 'string', pattern: EXECUTION_ID_PATTERN, description: 'trigger restart: the execution it restarted' },
    triggered_by: closed({ job_id: { type: 'string', pattern: JOB_ID_PATTERN }, execution_id: { type: 'string', pattern: EXECUTION_ID_PATTERN } }, { description: 'trigger chain: the execution whose end started it' }),
    parameters: { type: 'array', items: { type: 'string' }, description: 'names of the environment variables a run-now overrode (values are never kept)' },
    node: { type: 'string', description: 'cluster mode (a PostgreSQL store): the node (daemon.node) that ran it' },
  },
  { description: 'One triggered run of a job: a scheduled slot, a run-now, a catch-up, a restart or a chain.' },
);

export const EXECUTION_SCHEMA: SchemaObject = {
  ...closedExecution,
  required: (closedExecution.required as string[]).filter((k) => !OPTIONAL_EXECUTION_FIELDS.includes(k)),
};

const isDuration = (schema: SchemaObject) => JSON.stringify(schema) === JSON.stringify(DURATION_SCHEMA);

/**
 * A job as answered: every field a request may set (JOB_PROPERTIES, so a new field shows up here by
 * itself), durations in integer seconds, environment values masked, and the read-only fields.
 */
export const JOB_SCHEMA: SchemaObject = closed(
  {
    id: { type: 'string', pattern: JOB_ID_PATTERN },
    ...Object.fromEntries(
      Object.entries(JOB_PROPERTIES).map(([field, schema]): [string, SchemaObject] => {
        if (isDuration(schema)) return [field, { type: 'integer', minimum: 0, description: 'seconds' }];
        if (field === 'environment') {
          return [field, { type: 'object', additionalProperties: { const: SECRET_MASK }, description: `values are never answered: each is ${JSON.stringify(SECRET_MASK)}` }];
        }
        if (field === 'steps') return [field, { anyOf: [schema, { type: 'null' }], description: 'null for a job with a command; step durations in integer seconds, environment values masked' }];
        if (field === 'command') return [field, { anyOf: [schema, { type: 'null' }], description: 'null for a job with steps' }];
        return [field, schema];
      }),
    ),
    status: { enum: [...JOB_STATUSES] },
    source: { enum: ['config', 'api', 'label'] },
    created_at: timestamp,
    updated_at: timestamp,
    next_run: { ...nullableTimestamp, description: 'null when paused or completed' },
    last_run: { anyOf: [schemaRef('Execution'), { type: 'null' }], description: 'the latest finished execution' },
  },
  { description: 'A job as the API answers it.' },
);

export const PAGINATION_SCHEMA: SchemaObject = closed({
  total: { type: 'integer', minimum: 0 },
  limit: { type: 'integer', minimum: 1 },
  offset: { type: 'integer', minimum: 0 },
});

export const ERROR_SCHEMA: SchemaObject = closed(
  {
    error: {
      type: 'object',
      additionalProperties: false,
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'stable, e.g. VALIDATION_FAILED, JOB_NOT_FOUND (docs/api.md lists them)' },
        message: { type: 'string', description: 'for people' },
        details: {
          type: 'array',
          description: 'each bad field with its JSON path',
          items: closed({ path: { type: 'string' }, message: { type: 'string' } }),
        },
      },
    },
  },
  { description: 'Every error answer.' },
);

export const NODE_SCHEMA: SchemaObject = closed(
  {
    name: { type: 'string', description: 'daemon.node' },
    version: { type: 'string', description: 'of watchbell on that node' },
    address: { type: 'string', description: 'its API, as it listens (empty until it does)' },
    tags: { type: 'object', additionalProperties: { type: 'string' }, description: 'daemon.node_tags' },
    started_at: timestamp,
    last_heartbeat: timestamp,
    running: { type: 'integer', minimum: 0, description: 'executions it ran at its last heartbeat' },
    state: { enum: ['alive', 'dead'], description: 'dead: stopped, or no heartbeat within its lease (daemon.lease)' },
  },
  { description: 'A node of a cluster (daemons sharing one PostgreSQL store).' },
);

export const HEALTH_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['status'],
  properties: {
    status: { enum: ['UP', 'DOWN'] },
    version: { type: 'string' },
    uptime: { type: 'integer', description: 'seconds' },
    jobs: closed({
      total: { type: 'integer' },
      active: { type: 'integer' },
      paused: { type: 'integer' },
      completed: { type: 'integer' },
    }),
    running: { type: 'integer' },
    queued: { type: 'integer' },
    cluster: closed(
      {
        node: { type: 'string', description: 'daemon.node' },
        lease: { enum: ['held', 'lost'], description: 'lost: fenced, DOWN until it renews its lease (it rejoins once its runs have stopped)' },
        nodes: closed(
          { alive: { type: 'integer' }, dead: { type: 'integer' } },
          { description: 'the nodes of the cluster by state (as GET /api/v1/nodes), counted at this node\'s last heartbeat' },
        ),
      },
      { description: 'present with a PostgreSQL store (cluster mode)' },
    ),
    config: {
      type: 'object',
      description: 'the config in force and the last reload',
      properties: {
        drift: {
          type: 'array',
          description: 'cluster mode only: config jobs this node defines differently from another live node (or that only one side has), at most 50; compared after each heartbeat',
          items: closed({ job_id: { type: 'string' }, nodes: { type: 'array', items: { type: 'string' }, description: 'the live nodes whose definition differs from this node\'s' } }),
        },
      },
    },
    store: {
      type: 'object',
      properties: {
        status: { enum: ['writable', 'not writable'] },
        kind: { enum: ['postgres'], description: 'present with a PostgreSQL store (daemon.store)' },
        url: { type: 'string', description: 'the PostgreSQL store URL, its password shown as ***' },
        data_dir: { type: 'string' },
      },
    },
  },
};

/** `{"data": ...}`. */
export function dataOf(schema: SchemaObject): SchemaObject {
  return closed({ data: schema });
}

/** `{"data": [...], "pagination": {...}}`. */
export function pageOf(item: SchemaObject): SchemaObject {
  return closed({ data: { type: 'array', items: item }, pagination: schemaRef('Pagination') });
}
