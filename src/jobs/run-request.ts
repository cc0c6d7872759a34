/** Bodies of `POST /jobs/{id}/run` (parameters) and `POST .../advance` (outputs), checked by the one validator. */
import type { SchemaObject } from 'ajv';
import { WatchbellError } from './errors.js';
import { JOB_PROPERTIES } from './job-schema.js';
import { addSchema, checkSchema, compileLater } from './schema-validator.js';

/** `{"environment": {...}}`: per-execution overrides of the job's environment. */
export const RUN_REQUEST_SCHEMA: SchemaObject = {
  $id: 'watchbell:run-request',
  type: 'object',
  additionalProperties: false,
  properties: { environment: JOB_PROPERTIES.environment! },
};

/** `{"outputs": {...}}`: the outputs of the wait step an advance completes. */
export const ADVANCE_REQUEST_SCHEMA: SchemaObject = {
  $id: 'watchbell:advance-request',
  type: 'object',
  additionalProperties: false,
  properties: {
    outputs: {
      type: 'object',
      maxProperties: 200,
      propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$', maxLength: 128 },
      additionalProperties: { type: 'string', maxLength: 65536, pattern: '^[^\\u0000]*$' },
    },
  },
};

addSchema(RUN_REQUEST_SCHEMA);
addSchema(ADVANCE_REQUEST_SCHEMA);
const validateRun = compileLater(RUN_REQUEST_SCHEMA);
const validateAdvance = compileLater(ADVANCE_REQUEST_SCHEMA);

const EXPECT: Record<string, string> = {
  environment: 'a map of variable names (letters, digits, _) to string values (without NUL)',
  outputs: 'a map of output keys (letters, digits, _, not starting with a digit) to string values (without NUL)',
};

/** The parameters of a run-now, or undefined for no body; throws VALIDATION_FAILED naming each bad field. */
export function parseRunRequest(body: unknown): Record<string, string> | undefined {
  if (body === undefined) return undefined;
  check(validateRun(), body);
  const env = (body as { environment?: Record<string, string> }).environment;
  return env === undefined ? undefined : { ...env };
}

/** The outputs an advance gives its wait step ({} for no body); throws VALIDATION_FAILED naming each bad field. */
export function parseAdvanceRequest(body: unknown): Record<string, string> {
  if (body === undefined) return {};
  check(validateAdvance(), body);
  return { ...((body as { outputs?: Record<string, string> }).outputs ?? {}) };
}

function check(validate: ReturnType<typeof validateRun>, body: unknown): void {
  const errors = checkSchema(validate, body, { describe: (path) => EXPECT[path.split('/')[1] ?? ''] });
  if (errors.length === 0) return;
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
  throw new WatchbellError('VALIDATION_FAILED', `${errors[0]!.message}${more}`, { details: errors });
}
