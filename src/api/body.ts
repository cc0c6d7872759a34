/** Request bodies: JSON (at most 1 MiB), or YAML with `Content-Type: application/yaml` or `text/yaml` (at most 256 KiB). */
import type { Context, Next } from 'koa';
import type bodyParser from 'koa-bodyparser';
import { WatchbellError } from '../jobs/errors.js';
import { jsonShapeProblem, shapeError } from './body-shape.js';
import { parseYamlOffThread } from './yaml-off-thread.js';

export { MAX_DEPTH, MAX_VALUES } from './body-shape.js';
export { MAX_YAML_NESTING, yamlTooDeep } from './yaml-body.js';

const YAML_TYPES = ['application/yaml', 'text/yaml', 'application/x-yaml', 'text/x-yaml'];
const JSON_TYPES = ['application/json', '+json'];

/** Largest request body accepted, in bytes. */
export const BODY_LIMIT = 1024 * 1024;

/** Largest YAML body: parsing YAML costs about 3 s of CPU per MiB (in a worker thread, yaml-off-thread.ts), and a job is a few hundred bytes. */
export const YAML_BODY_LIMIT = 256 * 1024;

function hasBody(ctx: Context): boolean {
  const length = ctx.request.length;
  return (length !== undefined && length > 0) || ctx.get('transfer-encoding') !== '';
}

/**
 * Middleware for the routes that take a body: rejects bodies of other types (415) or too large (413), then
 * parses JSON (on the event loop, after a linear check of its shape) or YAML (in a worker thread). Routes
 * that take no body never read one: Node discards it unparsed.
 */
export function parseBody() {
  // koa-bodyparser (with co-body, qs, ...) is imported at the first request with a body, not with the daemon:
  // it was a sixth of an empty daemon's start and 6 MiB (docs/benchmarks.md).
  let parser: Promise<ReturnType<typeof bodyParser>> | undefined;
  const options: bodyParser.Options = {
    // Read as text, both: JSON.parse runs only once the text's shape is known to be cheap to parse.
    enableTypes: ['text'],
    extendTypes: { text: [...JSON_TYPES, ...YAML_TYPES] },
    textLimit: `${BODY_LIMIT}b`,
    onerror(err: Error & { status?: number }, ctx: Context) {
      if (err.status === 413) throw tooLarge(Boolean(ctx.is(YAML_TYPES)));
      throw new WatchbellError('INVALID_JSON', `request body could not be read: ${err.message}`);
    },
  };

  return function body(ctx: Context, next: Next): Promise<void> {
    if (!hasBody(ctx)) {
      ctx.request.body = undefined;
      return next();
    }
    return parseThen(ctx, next);
  };

  async function parseThen(ctx: Context, next: Next): Promise<void> {
    const declared = ctx.length;
    const isYaml = Boolean(ctx.is(YAML_TYPES));
    if (declared !== undefined && declared > (isYaml ? YAML_BODY_LIMIT : BODY_LIMIT)) throw tooLarge(isYaml);
    if (!isYaml && !ctx.is(JSON_TYPES)) {
      throw new WatchbellError(
        'UNSUPPORTED_MEDIA_TYPE',
        `Content-Type ${JSON.stringify(ctx.get('content-type') || '(none)')} is not supported; send application/json, application/yaml or text/yaml`,
      );
    }
    const parse = await (parser ??= import('koa-bodyparser').then((m) => m.default(options)));
    await parse(ctx, async () => undefined);
    const text = String(ctx.request.body ?? '');
    if (isYaml) {
      // A chunked body has no declared length: its size is known once read.
      if (Buffer.byteLength(text) > YAML_BODY_LIMIT) throw tooLarge(true);
      ctx.request.body = await parseYamlOffThread(text);
    } else ctx.request.body = parseJsonBody(text);
    return next();
  }
}

/** Parses a JSON body: an object or an array, within MAX_DEPTH and MAX_VALUES (checked before parsing). */
function parseJsonBody(text: string): unknown {
  const problem = jsonShapeProblem(text);
  if (problem) throw shapeError(problem);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new WatchbellError('INVALID_JSON', `request body is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object') throw notAnObject(text.trim());
  return value;
}

function notAnObject(text: string): WatchbellError {
  const shown = text.length > 40 ? `${text.slice(0, 37)}...` : text;
  const message = `body: ${shown} is JSON but not an object; expected a JSON object ({...}), or no body at all on routes that take none`;
  return new WatchbellError('VALIDATION_FAILED', message, { details: [{ path: '', message }] });
}

function tooLarge(yaml: boolean): WatchbellError {
  return new WatchbellError(
    'BODY_TOO_LARGE',
    yaml ? `request body is larger than ${YAML_BODY_LIMIT} bytes (256 KiB), the limit for YAML` : `request body is larger than ${BODY_LIMIT} bytes (1 MiB)`,
  );
}
