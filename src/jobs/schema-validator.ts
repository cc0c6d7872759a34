/** The one ajv instance: compiles JSON Schemas and turns ajv's errors into FieldErrors people can act on. */
import AjvModule, { type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';
import type { FieldError } from './errors.js';

// ajv is CommonJS; under NodeNext its default export arrives as the module object.
const Ajv = AjvModule.default;
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });

/** Registers a schema under its `$id` so other schemas can `$ref` it. */
export function addSchema(schema: SchemaObject): void {
  if (!ajv.getSchema(schema.$id as string)) ajv.addSchema(schema);
}

/** Compiles (once) and returns a validator for a schema registered by `$id`, or for a schema object. */
export function compile(schema: SchemaObject): ValidateFunction {
  if (schema.$id) {
    const found = ajv.getSchema(schema.$id as string);
    if (found) return found;
  }
  return ajv.compile(schema);
}

/**
 * Validates `data` and returns every bad field, one message per path. `describe` maps a field
 * path to what is expected there (e.g. `a duration such as "90s"`), for messages ajv cannot phrase.
 */
export function checkSchema(
  validate: ValidateFunction,
  data: unknown,
  describe: (path: string) => string | undefined = () => undefined,
): FieldError[] {
  if (validate(data)) return [];
  const byPath = new Map<string, FieldError>();
  for (const e of validate.errors ?? []) {
    const fe = toFieldError(e, data, describe);
    // Unions (oneOf/anyOf) report one error per branch; the first message at a path is enough.
    if (!byPath.has(fe.path)) byPath.set(fe.path, fe);
  }
  // An error inside a union branch is reported at the union's path too; keep the deepest.
  const paths = [...byPath.keys()];
  return paths
    .filter((p) => !paths.some((q) => q !== p && q.startsWith(p + '/') && byPath.get(p)!.message.includes('expected')))
    .map((p) => byPath.get(p)!);
}

function toFieldError(e: ErrorObject, data: unknown, describe: (path: string) => string | undefined): FieldError {
  if (e.keyword === 'additionalProperties') {
    const key = String((e.params as { additionalProperty: string }).additionalProperty);
    const path = `${e.instancePath}/${escapePointer(key)}`;
    const allowed = allowedKeys(e.parentSchema);
    return { path, message: `${label(path)}: unknown field${allowed ? `; expected one of ${allowed}` : ''}` };
  }
  if (e.keyword === 'required') {
    const key = String((e.params as { missingProperty: string }).missingProperty);
    const path = `${e.instancePath}/${escapePointer(key)}`;
    return { path, message: `${label(path)}: is required` };
  }
  const path = e.instancePath;
  const value = valueAt(data, path);
  const expected = describe(path) ?? ajvExpectation(e);
  return { path, message: `${label(path)}: ${showValue(value)} is invalid; expected ${expected}` };
}

function ajvExpectation(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type': return `${article(String(p.type))}`;
    case 'enum': return `one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const': return JSON.stringify(p.allowedValue);
    case 'minimum': return `a number >= ${p.limit}`;
    case 'maximum': return `a number <= ${p.limit}`;
    case 'minLength': return p.limit === 1 ? 'a non-empty string' : `at least ${p.limit} characters`;
    case 'maxLength': return `at most ${p.limit} characters`;
    case 'minItems': return `at least ${p.limit} item${p.limit === 1 ? '' : 's'}`;
    case 'maxItems': return `at most ${p.limit} items`;
    case 'maxProperties': return `at most ${p.limit} entries`;
    case 'pattern': return `a string matching ${p.pattern}`;
    case 'propertyNames': return 'valid key names';
    default: return e.message ?? 'a valid value';
  }
}

function article(type: string): string {
  const types = type.split(',');
  const one = (t: string) => (t === 'integer' || t === 'array' || t === 'object' ? `an ${t}` : `a ${t}`);
  return types.map(one).join(' or ');
}

function allowedKeys(schema: unknown): string | undefined {
  const props = (schema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props ? Object.keys(props).join(', ') : undefined;
}

/** `/jobs/backup/timeout` -> `jobs.backup.timeout`; the whole document is `body`. */
export function label(path: string): string {
  if (path === '') return 'body';
  return path.slice(1).split('/').map(unescapePointer).join('.');
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function unescapePointer(key: string): string {
  return key.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** The value at a JSON pointer, or undefined. */
export function valueAt(data: unknown, path: string): unknown {
  if (path === '') return data;
  let cur: unknown = data;
  for (const raw of path.slice(1).split('/')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[unescapePointer(raw)];
  }
  return cur;
}

/** A short, safe rendering of a bad value for a message (long strings are cut). */
export function showValue(value: unknown): string {
  if (value === undefined) return 'missing value';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
