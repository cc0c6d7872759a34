/**
 * The one validator: JSON Schemas checked by ajv, and ajv's errors turned into FieldErrors people can act on.
 *
 * ajv compiling the config schema was a sixth of an empty daemon's start (~80 ms, docs/benchmarks.md, issue 16
 * fourth pass), so the build (`scripts/generate-validators.mjs`, run by `scripts/prepare.mjs`) writes each
 * schema's validator as ajv's standalone code into `dist/src/jobs/standalone/`, from these same schema objects
 * and options, and the daemon loads that instead of ajv. A build by `tsc` alone has none, or stale ones after a
 * schema changed: then the schema is compiled here as before, so validation is the same either way, only slower
 * (test/jobs/standalone-validators.test.ts fails when the generated code is missing or stale).
 */
import { createRequire } from 'node:module';
import type { ErrorObject, Options, SchemaObject, ValidateFunction } from 'ajv';
import type { FieldError } from './errors.js';

/** ajv's options, for the generated validators and for compiling here alike. */
export const AJV_OPTIONS: Options = { allErrors: true, strict: true, allowUnionTypes: true, verbose: true };

// ajv and the generated validators are CommonJS; loading them synchronously keeps compileLater()'s contract.
const require = createRequire(import.meta.url);

/** Schemas registered by `$id` (for `$ref`s when compiling here), and those given a validator. */
const registered = new Map<string, SchemaObject>();
const validated = new Map<string, SchemaObject>();

let ajv: import('ajv').default | undefined;

/** Registers a schema under its `$id` so other schemas can `$ref` it. */
export function addSchema(schema: SchemaObject): void {
  if (!registered.has(schema.$id as string)) registered.set(schema.$id as string, schema);
}

/** Compiles a schema with ajv (loaded at the first call), its registered schemas added for `$ref`s. */
export function compile(schema: SchemaObject): ValidateFunction {
  if (!ajv) {
    const Ajv = (require('ajv') as typeof import('ajv')).default;
    ajv = new Ajv(AJV_OPTIONS);
    for (const s of registered.values()) ajv.addSchema(s);
  }
  if (schema.$id) {
    const found = ajv.getSchema(schema.$id as string);
    if (found) return found;
  }
  return ajv.compile(schema);
}

/**
 * A validator made at its first use, not when its module loads: the generated one when the build wrote it
 * for this very schema, else compiled (tens of ms and MiBs; many runs need only some of them).
 */
export function compileLater(schema: SchemaObject): () => ValidateFunction {
  if (schema.$id) validated.set(schema.$id as string, schema);
  let validate: ValidateFunction | undefined;
  return () => (validate ??= generatedValidator(schema) ?? compile(schema));
}

/** Every schema given a validator by compileLater() in the modules loaded so far, by `$id`. */
export function validatedSchemas(): ReadonlyMap<string, SchemaObject> {
  return validated;
}

/** The generated module's file name for a schema `$id`, in `standalone/` beside this module. */
export function standaloneFileName(id: string): string {
  return `${id.replace(/[^A-Za-z0-9-]/g, '-')}.cjs`;
}

/** What a generated validator was made from: its schema and ajv's options; it must equal the one in use. */
export function standaloneSource(schema: SchemaObject): string {
  return JSON.stringify({ options: AJV_OPTIONS, schema });
}

/** The generated validator of `schema`, or undefined when the build wrote none or one for another schema. */
function generatedValidator(schema: SchemaObject): ValidateFunction | undefined {
  if (!schema.$id) return undefined;
  let generated: { validate: ValidateFunction; source: string };
  try {
    generated = require(`./standalone/${standaloneFileName(schema.$id as string)}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw err;
  }
  return generated.source === standaloneSource(schema) ? generated.validate : undefined;
}

/** How checkSchema phrases messages: what is expected at a path, and which values are secret. */
export interface MessageOptions {
  /** What is expected at a field path (e.g. `a duration such as "90s"`), where ajv's words would be vague. */
  describe?: (path: string, what: 'key' | 'value') => string | undefined;
  /** Paths whose values must never appear in a message (environment values, tokens). */
  secret?: (path: string) => boolean;
}

/** Values under these keys are secrets wherever they appear (a notifier's URL too: a Slack webhook URL is its credential). */
export function isSecretPath(path: string): boolean {
  return /(^|\/)environment(\/|$)/.test(path) || /^\/api\/tokens(\/\d+(\/token)?)?$/.test(path) ||
    /^\/notifiers(\/[^/]+(\/(url|secret|password|headers)(\/|$)|$)|$)/.test(path);
}

/** Validates `data` and returns every bad field, one message per path. */
export function checkSchema(validate: ValidateFunction, data: unknown, options: MessageOptions = {}): FieldError[] {
  if (validate(data)) return [];
  const describe = options.describe ?? (() => undefined);
  const secret = options.secret ?? isSecretPath;
  const errors = validate.errors ?? [];
  // A union (anyOf) reports one error per branch and then one for itself; only its own is shown,
  // phrased with what the union accepts, so `command: 42` gets one message, not three.
  const unions = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => e.instancePath);
  const inUnion = (e: ErrorObject) =>
    /\/(anyOf|oneOf)\//.test(e.schemaPath) && unions.some((u) => e.instancePath === u || e.instancePath.startsWith(`${u}/`));
  const byPath = new Map<string, FieldError>();
  for (const e of errors) {
    // propertyNames reports the bad key twice (the key's own error, then propertyNames itself).
    if (e.keyword === 'propertyNames' || inUnion(e)) continue;
    const fe = toFieldError(e, data, describe, secret);
    if (!byPath.has(fe.path)) byPath.set(fe.path, fe);
  }
  return [...byPath.values()];
}

function toFieldError(
  e: ErrorObject,
  data: unknown,
  describe: (path: string, what: 'key' | 'value') => string | undefined,
  secret: (path: string) => boolean,
): FieldError {
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
  if (e.propertyName !== undefined) {
    const path = `${e.instancePath}/${escapePointer(e.propertyName)}`;
    const expected = describe(path, 'key') ?? ajvExpectation(e);
    return { path, message: `${label(path)}: the key ${showValue(e.propertyName)} is invalid; expected ${expected}` };
  }
  const path = e.instancePath;
  const value = secret(path) ? SECRET : showValue(valueAt(data, path));
  const expected = describe(path, 'value') ?? ajvExpectation(e);
  return { path, message: `${label(path)}: ${value} is invalid; expected ${expected}` };
}

const SECRET = '(a secret value, not shown)';

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
    case 'anyOf':
    case 'oneOf': return 'one of the allowed forms';
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

/** True for messages about a key itself (unknown, invalid, or not allowed), which point at the key, not its value. */
export function isAboutKey(message: string): boolean {
  return /: (unknown field|the key |not allowed in )/.test(message);
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
