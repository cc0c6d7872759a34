/**
 * The OpenAPI 3.1 document served at `GET /api/v1/openapi.json`, built in code: request bodies use
 * the very schema the job validator uses (JOB_INPUT_SCHEMA), answers use response-schemas.ts.
 * test/api/openapi.test.ts checks that every route the router serves is described here and the
 * reverse, and that documented query parameters match what the routes accept.
 */
import { readFileSync } from 'node:fs';
import type { SchemaObject } from 'ajv';
import { JOB_ID_PATTERN } from '../jobs/ids.js';
import { JOB_SORTS } from '../jobs/job.js';
import { JOB_INPUT_SCHEMA } from '../jobs/job-schema.js';
import { BODY_LIMIT, MAX_DEPTH, MAX_VALUES, YAML_BODY_LIMIT } from './body.js';
import { MAX_LIMIT } from './query.js';
import {
  ATTEMPT_SCHEMA,
  dataOf,
  ERROR_SCHEMA,
  EXECUTION_ID_PATTERN,
  EXECUTION_SCHEMA,
  EXECUTION_STATUSES,
  HEALTH_SCHEMA,
  JOB_SCHEMA,
  JOB_STATUSES,
  NODE_SCHEMA,
  pageOf,
  PAGINATION_SCHEMA,
  schemaRef,
  STEP_RECORD_SCHEMA,
} from './response-schemas.js';
import { ADVANCE_REQUEST_SCHEMA, RUN_REQUEST_SCHEMA } from '../jobs/run-request.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- the document is plain JSON */
type Json = Record<string, any>;

/** Largest `tail=` / `n=` of the log routes (routes/executions.ts MAX_TAIL). */
const MAX_TAIL = 100_000;

/** The job schema of requests without the validator's `$id`, which means nothing in a document. */
function requestSchema(schema: SchemaObject): SchemaObject {
  const { $id: _id, ...rest } = schema;
  return rest;
}

const JOB_INPUT = requestSchema(JOB_INPUT_SCHEMA);
const JOB_UPDATE: SchemaObject = {
  ...JOB_INPUT,
  title: 'watchbell job update',
  description: `Fields given replace, fields left out keep their value. An environment value of "******" keeps the stored value. \`id\` cannot change.`,
  required: [],
};

// Parameters.
const pathParam = (name: string, pattern: string, description: string): Json => ({
  name, in: 'path', required: true, description, schema: { type: 'string', pattern },
});
const query = (name: string, schema: Json, description: string, required = false): Json => ({
  name, in: 'query', required, description, schema,
});
const intQuery = (name: string, min: number, max: number, dflt: number | undefined, description: string): Json =>
  query(name, { type: 'integer', minimum: min, maximum: max, ...(dflt === undefined ? {} : { default: dflt }) }, description);

const JOB_ID = { $ref: '#/components/parameters/JobId' };
const EXECUTION_ID = { $ref: '#/components/parameters/ExecutionId' };
const OFFSET = { $ref: '#/components/parameters/Offset' };
const limit = (dflt: number) => intQuery('limit', 1, MAX_LIMIT, dflt, 'page size');

// Answers.
const json = (schema: SchemaObject, description: string): Json => ({ description, content: { 'application/json': { schema } } });
const text = (description: string, headers?: Json): Json => ({
  description, content: { 'text/plain': { schema: { type: 'string' } } }, ...(headers ? { headers } : {}),
});
const error = (name: string) => ({ $ref: `#/components/responses/${name}` });
const message = (properties: Json, required: string[]): SchemaObject =>
  dataOf({ type: 'object', additionalProperties: false, required: ['message', ...required], properties: { message: { type: 'string' }, ...properties } });

/** Errors any /api/v1 route may answer (400: a query parameter it does not take; 405: a method the path does not take, with `Allow`). */
const COMMON_ERRORS = { '400': error('BadRequest'), '401': error('Unauthorized'), '403': error('Forbidden'), '405': error('MethodNotAllowed'), '500': error('Internal'), '503': error('TooManyConnections') };
/** And the ones of routes that change something. */
const WRITE_ERRORS = { ...COMMON_ERRORS, '503': error('Unavailable') };

const JOB_BODY: Json = {
  required: true,
  description: `A job as JSON, or as YAML with Content-Type application/yaml or text/yaml; at most ${BODY_LIMIT} bytes (YAML ${YAML_BODY_LIMIT}), ${MAX_DEPTH} levels deep and ${MAX_VALUES} values.`,
  content: {
    'application/json': { schema: schemaRef('JobInput') },
    'application/yaml': { schema: schemaRef('JobInput') },
    'text/yaml': { schema: schemaRef('JobInput') },
  },
};
const UPDATE_BODY: Json = {
  ...JOB_BODY,
  content: Object.fromEntries(Object.keys(JOB_BODY.content).map((type) => [type, { schema: schemaRef('JobUpdate') }])),
};
const BODY_ERRORS = { '400': error('BadRequest'), '413': error('TooLarge'), '415': error('UnsupportedMediaType') };

function op(operationId: string, summary: string, { tag = 'jobs', ...rest }: Json): Json {
  return { operationId, summary, tags: [tag], ...rest };
}

/** Every route, keyed by its path in OpenAPI form; the route files' paths with `:id` written `{id}`. */
function paths(): Json {
  return {
    '/health': {
      get: op('getHealth', 'Liveness and store status; 503 DOWN when the store cannot be written', {
        tag: 'operations',
        security: [],
        responses: { '200': json(schemaRef('Health'), 'UP'), '405': error('MethodNotAllowed'), '503': json(schemaRef('Health'), 'DOWN: the data dir cannot be written') },
      }),
    },
    '/metrics': {
      get: op('getMetrics', 'Prometheus metrics (text exposition format)', {
        tag: 'operations',
        description: 'Open unless API tokens are configured; then a token is needed unless `api.metrics_public: true`.',
        security: [{ bearer: [] }, {}],
        responses: { '200': text('Prometheus text format 0.0.4'), '401': error('Unauthorized'), '405': error('MethodNotAllowed') },
      }),
    },
    '/api/v1/openapi.json': {
      get: op('getOpenApi', 'This document', {
        tag: 'operations',
        responses: { '200': json({ type: 'object' }, 'the OpenAPI 3.1 document'), ...COMMON_ERRORS },
      }),
    },
    '/api/v1/jobs': {
      get: op('listJobs', 'List jobs, in id order or the one `sort` asks', {
        parameters: [
          limit(100),
          OFFSET,
          query('status', { enum: [...JOB_STATUSES] }, 'only jobs with this status'),
          query('tag', { type: 'string', maxLength: 64 }, 'only jobs with this tag (exact)'),
          query('q', { type: 'string', maxLength: 200 }, 'case-insensitive substring of id, name, command or tags'),
          query('sort', { enum: [...JOB_SORTS], default: 'id' }, 'order: id; -created_at (newest first); next_run (soonest first); -last_run (most recently run first). Jobs without the field come last, ties in id order'),
        ],
        responses: { '200': json(pageOf(schemaRef('Job')), 'a page of jobs'), ...COMMON_ERRORS },
      }),
      post: op('createJob', 'Create a job', {
        requestBody: JOB_BODY,
        responses: {
          '201': { ...json(dataOf(schemaRef('Job')), 'created'), headers: { Location: { schema: { type: 'string' }, description: 'the job\'s URL path' } } },
          ...BODY_ERRORS,
          '409': error('Conflict'),
          ...WRITE_ERRORS,
        },
      }),
    },
    '/api/v1/jobs/{id}': {
      parameters: [JOB_ID],
      get: op('getJob', 'One job, with next_run and last_run', {
        responses: { '200': json(dataOf(schemaRef('Job')), 'the job'), '404': error('NotFound'), ...COMMON_ERRORS },
      }),
      put: op('updateJob', 'Update a job made through the API; reschedules at once', {
        requestBody: UPDATE_BODY,
        responses: {
          '200': json(dataOf(schemaRef('Job')), 'the updated job'),
          ...BODY_ERRORS,
          '404': error('NotFound'),
          '409': error('Conflict'),
          ...WRITE_ERRORS,
        },
      }),
      delete: op('deleteJob', 'Delete a job with its history and logs, cancelling its running execution', {
        responses: {
          '200': json(message({ id: { type: 'string' } }, ['id']), 'deleted'),
          '404': error('NotFound'),
          '409': error('Conflict'),
          ...WRITE_ERRORS,
        },
      }),
    },
    '/api/v1/jobs/{id}/run': {
      parameters: [JOB_ID],
      post: op('runJob', 'Run a job now, paused or not; an optional body overrides its environment for this execution', {
        requestBody: {
          required: false,
          description: 'Optional. `environment` overrides the job\'s (and its steps\') variables for this execution; only the names are recorded (`parameters`). Unknown fields are a 400.',
          content: { 'application/json': { schema: requestSchema(RUN_REQUEST_SCHEMA) } },
        },
        responses: {
          '202': json(message({ execution_id: { type: 'string', pattern: EXECUTION_ID_PATTERN } }, ['execution_id']), 'triggered'),
          '404': error('NotFound'),
          '409': error('Conflict'),
          ...WRITE_ERRORS,
        },
      }),
    },
    '/api/v1/jobs/{id}/pause': {
      parameters: [JOB_ID],
      post: op('pauseJob', 'Stop firing a job on its schedule until resumed', {
        responses: {
          '200': json(message({ id: { type: 'string' }, status: { const: 'paused' } }, ['id', 'status']), 'paused'),
          '404': error('NotFound'),
          '409': error('Conflict'),
          ...WRITE_ERRORS,
        },
      }),
    },
    '/api/v1/jobs/{id}/resume': {
      parameters: [JOB_ID],
      post: op('resumeJob', 'Fire a paused job on its schedule again', {
        responses: {
          '200': json(
            message({ id: { type: 'string' }, status: { const: 'active' }, next_run: { type: ['string', 'null'], format: 'date-time' } }, ['id', 'status', 'next_run']),
            'resumed',
          ),
          '404': error('NotFound'),
          '409': error('Conflict'),
          ...WRITE_ERRORS,
        },
      }),
    },
    '/api/v1/jobs/{id}/executions': {
      parameters: [JOB_ID],
      get: op('listJobExecutions', "A job's executions, newest first", {
        tag: 'executions',
        parameters: [limit(10), OFFSET, { $ref: '#/components/parameters/ExecutionStatus' }],
        responses: { '200': json(pageOf(schemaRef('Execution')), 'a page of executions'), '404': error('NotFound'), ...COMMON_ERRORS },
      }),
    },
    '/api/v1/jobs/{id}/executions/{eid}': {
      parameters: [JOB_ID, EXECUTION_ID],
      get: op('getExecution', 'One execution', {
        tag: 'executions',
        responses: { '200': json(dataOf(schemaRef('Execution')), 'the execution'), '404': error('NotFound'), ...COMMON_ERRORS },
      }),
    },
    '/api/v1/jobs/{id}/executions/{eid}/log': {
      parameters: [JOB_ID, EXECUTION_ID],
      get: op('getExecutionLog', "An execution's log: whole, one stream, its tail, or followed live", {
        tag: 'executions',
        parameters: [
          query('stream', { enum: ['stdout', 'stderr'] }, 'only this stream (default: both, in arrival order)'),
          intQuery('tail', 0, MAX_TAIL, undefined, 'only the last N lines'),
          query('follow', { type: 'boolean', default: false }, 'stream new output (chunked) until the execution ends'),
          query('step', { type: 'string', maxLength: 63 }, 'only this step\'s part (a job with steps); 400 when it has no such step'),
        ],
        responses: { '200': text('the log'), '404': error('LogNotFound'), '502': error('NodeUnreachable'), ...COMMON_ERRORS },
      }),
    },
    '/api/v1/jobs/{id}/executions/{eid}/restart': {
      parameters: [JOB_ID, EXECUTION_ID],
      post: op('restartExecution', 'A new execution of a failed, cancelled or interrupted one, from its first step that did not succeed', {
        tag: 'executions',
        responses: {
          '202': json(message({ execution_id: { type: 'string', pattern: EXECUTION_ID_PATTERN }, restarted_from: { type: 'string', pattern: EXECUTION_ID_PATTERN } }, ['execution_id', 'restarted_from']), 'restarted'),
          '404': error('NotFound'),
          '409': error('Conflict'),
          ...WRITE_ERRORS,
        },
      }),
    },
    '/api/v1/jobs/{id}/executions/{eid}/advance': {
      parameters: [JOB_ID, EXECUTION_ID],
      post: op('advanceExecution', 'Complete the wait step a waiting execution is held at, with outputs for the steps after it', {
        tag: 'executions',
        requestBody: {
          required: false,
          description: 'Optional. `outputs` become the wait step\'s outputs (WATCHBELL_STEP_<STEP>_<KEY> for later steps).',
          content: { 'application/json': { schema: requestSchema(ADVANCE_REQUEST_SCHEMA) } },
        },
        responses: {
          '202': json(message({ execution_id: { type: 'string', pattern: EXECUTION_ID_PATTERN } }, ['execution_id']), 'advanced'),
          '404': error('NotFound'),
          '409': error('Conflict'),
          ...WRITE_ERRORS,
        },
      }),
    },
    '/api/v1/jobs/{id}/executions/{eid}/cancel': {
      parameters: [JOB_ID, EXECUTION_ID],
      post: op('cancelExecution', 'Stop a queued or running execution', {
        tag: 'executions',
        responses: {
          '202': json(message({ execution_id: { type: 'string', pattern: EXECUTION_ID_PATTERN }, status: { enum: [...EXECUTION_STATUSES] } }, ['execution_id', 'status']), 'cancelled'),
          '404': error('NotFound'),
          '409': error('Conflict'),
          ...WRITE_ERRORS,
        },
      }),
    },
    '/api/v1/jobs/{id}/tail': {
      parameters: [JOB_ID],
      get: op('tailJob', "The last lines of the newest execution's log", {
        tag: 'executions',
        parameters: [intQuery('n', 0, MAX_TAIL, 100, 'lines')],
        responses: {
          '200': text('the lines (empty when the job never ran)', { 'X-Execution-Id': { schema: { type: 'string' }, description: 'the execution they are from' } }),
          '404': error('NotFound'),
          ...COMMON_ERRORS,
        },
      }),
    },
    '/api/v1/executions': {
      get: op('listExecutions', 'Executions of all jobs, newest first', {
        tag: 'executions',
        parameters: [limit(10), OFFSET, { $ref: '#/components/parameters/ExecutionStatus' }],
        responses: { '200': json(pageOf(schemaRef('Execution')), 'a page of executions'), ...COMMON_ERRORS },
      }),
    },
    '/api/v1/session': {
      get: op('getSession', "The caller's token name and scope: scope admin when no tokens are configured, null when tokens are and none was sent", {
        tag: 'operations',
        responses: {
          '200': json(
            dataOf({
              type: 'object',
              additionalProperties: false,
              required: ['token', 'scope'],
              properties: { token: { type: ['string', 'null'] }, scope: { enum: ['admin', 'read', null] } },
            }),
            'the session',
          ),
          ...COMMON_ERRORS,
        },
      }),
    },
    '/api/v1/events': {
      get: op('streamEvents', 'Live events as server-sent events (text/event-stream); Last-Event-ID resumes', {
        tag: 'operations',
        responses: {
          '200': { description: 'an endless event stream (docs/api.md, Live events)', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          ...COMMON_ERRORS,
        },
      }),
    },
    '/api/v1/nodes': {
      get: op('listNodes', 'The nodes of the cluster (daemons sharing this PostgreSQL store), alive and dead', {
        tag: 'operations',
        responses: {
          '200': json(dataOf({ type: 'array', items: schemaRef('Node') }), 'alive nodes first, then by name; empty on the embedded store (no cluster)'),
          ...COMMON_ERRORS,
        },
      }),
    },
    '/api/v1/config/reload': {
      post: op('reloadConfig', 'Re-read the config file and its includes and apply them as a diff, like SIGHUP', {
        tag: 'operations',
        responses: {
          '200': json(
            message(
              {
                added: { type: 'array', items: { type: 'string' } },
                changed: { type: 'array', items: { type: 'string' } },
                removed: { type: 'array', items: { type: 'string' } },
                warnings: { type: 'array', items: { type: 'string' }, description: 'FILE:LINE:COL: message' },
              },
              ['added', 'changed', 'removed', 'warnings'],
            ),
            'applied',
          ),
          '404': error('NotFound'),
          '409': error('Conflict'),
          ...WRITE_ERRORS,
          '400': { ...error('BadRequest'), description: 'CONFIG_INVALID: nothing changed; details give each problem as FILE:LINE:COL' },
        },
      }),
    },
    '/api/v1/schedule/next': {
      get: op('previewSchedule', 'The next run times of a schedule expression', {
        tag: 'schedules',
        parameters: [
          query('schedule', { type: 'string', minLength: 1, maxLength: 200 }, 'cron expression, macro, @every or ISO instant', true),
          query('timezone', { type: 'string', maxLength: 64 }, "IANA zone; default the daemon's"),
          intQuery('n', 1, 100, 5, 'how many'),
        ],
        responses: {
          '200': json(
            dataOf({
              type: 'object',
              additionalProperties: false,
              required: ['schedule', 'timezone', 'next_runs'],
              properties: { schedule: { type: 'string' }, timezone: { type: 'string' }, next_runs: { type: 'array', items: { type: 'string', format: 'date-time' } } },
            }),
            'the run times',
          ),
          ...COMMON_ERRORS,
        },
      }),
    },
  };
}

function components(): Json {
  const errorAnswer = (description: string) => json(schemaRef('Error'), description);
  return {
    schemas: {
      JobInput: JOB_INPUT,
      JobUpdate: JOB_UPDATE,
      Job: JOB_SCHEMA,
      Execution: EXECUTION_SCHEMA,
      Attempt: ATTEMPT_SCHEMA,
      StepRecord: STEP_RECORD_SCHEMA,
      Pagination: PAGINATION_SCHEMA,
      Error: ERROR_SCHEMA,
      Health: HEALTH_SCHEMA,
      Node: NODE_SCHEMA,
    },
    parameters: {
      JobId: pathParam('id', JOB_ID_PATTERN, 'job id'),
      ExecutionId: pathParam('eid', EXECUTION_ID_PATTERN, 'execution id'),
      Offset: intQuery('offset', 0, Number.MAX_SAFE_INTEGER, 0, 'items to skip'),
      ExecutionStatus: query('status', { enum: [...EXECUTION_STATUSES] }, 'only executions with this status'),
    },
    responses: {
      BadRequest: errorAnswer('VALIDATION_FAILED (details name each bad field, or each bad or unknown query parameter), INVALID_JSON, INVALID_YAML'),
      Unauthorized: errorAnswer('UNAUTHORIZED: tokens are configured and none, or a wrong one, was sent'),
      Forbidden: errorAnswer('FORBIDDEN: a read token on a write route; a request from a web page (Origin), or to a non-loopback Host without tokens'),
      NotFound: errorAnswer('JOB_NOT_FOUND, EXECUTION_NOT_FOUND (also for an id that could not be one), ROUTE_NOT_FOUND'),
      LogNotFound: errorAnswer('JOB_NOT_FOUND, EXECUTION_NOT_FOUND, ROUTE_NOT_FOUND; LOG_MISSING: the execution wrote output but its log file is gone from the data dir'),
      MethodNotAllowed: {
        ...errorAnswer('METHOD_NOT_ALLOWED: the path exists, the method does not'),
        headers: { Allow: { schema: { type: 'string' }, description: 'the methods the path takes, e.g. `GET, HEAD, PUT, DELETE`' } },
      },
      Conflict: errorAnswer('JOB_EXISTS, JOB_OWNED_BY_CONFIG, JOB_ALREADY_RUNNING, JOB_COMPLETED, EXECUTION_FINISHED, EXECUTION_NOT_WAITING, EXECUTION_NOT_RESTARTABLE, JOB_CHAINED, TOO_MANY_JOBS, NO_NODE'),
      TooLarge: errorAnswer(`BODY_TOO_LARGE: over ${BODY_LIMIT} bytes`),
      UnsupportedMediaType: errorAnswer('UNSUPPORTED_MEDIA_TYPE: neither JSON nor YAML'),
      Internal: errorAnswer('INTERNAL: a bug; the daemon log has the details'),
      Unavailable: errorAnswer('STORE_UNAVAILABLE: the data dir cannot be written, the PostgreSQL store does not answer, or the daemon is shutting down; TOO_MANY_CONNECTIONS: daemon.max_connections connections are open'),
      NodeUnreachable: errorAnswer('NODE_UNREACHABLE: cluster mode: the execution runs on another node, whose API could not be reached for its log'),
      TooManyConnections: errorAnswer('TOO_MANY_CONNECTIONS: daemon.max_connections connections are open; answered with Retry-After: 1 before the request is read'),
    },
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'an API token from `api.tokens`; `read` tokens may only GET' },
    },
  };
}

function packageVersion(): string {
  // From dist/src/api/ the package root is three folders up; from src/api/ (a TypeScript runner), two.
  for (const up of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'watchbell' && pkg.version) return pkg.version;
    } catch {
      // Try the next place.
    }
  }
  return '0.0.0';
}

let built: Json | undefined;

/** The OpenAPI 3.1 document of the API; built once. */
export function openApiDocument(): Json {
  built ??= {
    openapi: '3.1.0',
    info: {
      title: 'watchbell',
      version: packageVersion(),
      description:
        'A cron scheduler daemon with an embedded admin REST API. Success bodies are {"data": ...}; errors are {"error": {code, message, details?}}. ' +
        'Every path is also answered with a trailing slash (`/api/v1/jobs/` is `/api/v1/jobs`); paths are case-sensitive. ' +
        'A query parameter a route does not list is a 400 naming it. See docs/api.md.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    // Paths carry the /api/v1 prefix themselves, so a server is the daemon's origin: by default the one
    // that served this document, or the address in daemon.listen.
    servers: [
      { url: '/', description: 'the daemon that served this document' },
      { url: 'http://{listen}', description: 'a daemon at its daemon.listen address', variables: { listen: { default: '127.0.0.1:8080', description: 'HOST:PORT of daemon.listen' } } },
    ],
    // With no token configured the API is open (loopback only), hence the empty alternative.
    security: [{ bearer: [] }, {}],
    tags: [
      { name: 'jobs' },
      { name: 'executions' },
      { name: 'schedules' },
      { name: 'operations', description: 'health, metrics, this document' },
    ],
    paths: paths(),
    components: components(),
  };
  return built;
}
