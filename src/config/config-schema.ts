/** The JSON Schema of the whole config file; published as schema/watchbell.schema.json for editors. */
import type { SchemaObject } from 'ajv';
import { JOB_DEFAULTS_SCHEMA, JOB_INPUT_SCHEMA } from '../jobs/job-schema.js';
import { JOB_ID_PATTERN } from '../jobs/ids.js';
import { API_SCHEMA, DAEMON_SCHEMA } from './settings.js';
import { NOTIFIERS_SCHEMA } from '../notify/notifier-config.js';

/** `jobs:`, in the config file and in included files: job id -> job body. */
const JOBS_MAP_SCHEMA: SchemaObject = {
  type: ['object', 'null'],
  propertyNames: { pattern: JOB_ID_PATTERN, maxLength: 63 },
  additionalProperties: { type: 'object' },
};

/** The config file's top level. Job bodies are checked by the job validator, with the same schema. */
export const CONFIG_SCHEMA: SchemaObject = {
  $id: 'watchbell:config',
  title: 'watchbell config',
  type: 'object',
  additionalProperties: false,
  required: ['version'],
  properties: {
    version: { const: 1 },
    daemon: DAEMON_SCHEMA,
    api: API_SCHEMA,
    defaults: { type: 'object' },
    include: {
      type: 'array',
      maxItems: 100,
      items: { type: 'string', minLength: 1, maxLength: 4096 },
    },
    jobs: JOBS_MAP_SCHEMA,
    notifiers: NOTIFIERS_SCHEMA,
  },
};

/**
 * A file named by `include:`: only a `jobs:` map. Other top-level keys are reported by the loader,
 * which says where they belong instead of ajv's "unknown field".
 */
export const INCLUDE_FILE_SCHEMA: SchemaObject = {
  $id: 'watchbell:config-include',
  type: 'object',
  properties: { jobs: JOBS_MAP_SCHEMA },
};

/** The config schema with job and defaults schemas inlined: what an editor needs. */
export function publishedConfigSchema(): SchemaObject {
  const strip = (s: SchemaObject): SchemaObject => {
    const { $id: _id, ...rest } = s;
    return rest;
  };
  const job = strip(JOB_INPUT_SCHEMA);
  const { id: _i, status: _s, ...jobProps } = job.properties as Record<string, SchemaObject>;
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    ...strip(CONFIG_SCHEMA),
    properties: {
      ...(CONFIG_SCHEMA.properties as Record<string, SchemaObject>),
      defaults: strip(JOB_DEFAULTS_SCHEMA),
      jobs: {
        ...(CONFIG_SCHEMA.properties as Record<string, SchemaObject>).jobs,
        additionalProperties: { ...job, properties: jobProps },
      },
    },
  };
}
