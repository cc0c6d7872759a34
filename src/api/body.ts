/** Request bodies: JSON (at most 1 MiB), or YAML with `Content-Type: application/yaml` or `text/yaml` (at most 256 KiB). */
import type { Context, Next } from 'koa';
import type bodyParser from 'koa-bodyparser';
import { firstDuplicateKey, yaml } from '../config/yaml-source.js';
import { WatchbellError } from '../jobs/errors.js';

const YAML_TYPES = ['application/yaml', 'text/yaml', 'application/x-yaml', 'text/x-yaml'];
const JSON_TYPES = ['application/json', '+json'];

/** Largest request body accepted, in bytes. */
export const BODY_LIMIT = 1024 * 1024;

/** Largest YAML body: parsing YAML costs about 3 s of the event loop per MiB, and a job is a few hundred bytes. */
export const YAML_BODY_LIMIT = 256 * 1024;

/**
 * Deepest YAML nesting (indentation, block indicators and open brackets) let through to the parser, which
 * recurses once per level: at a few thousand levels V8 may not throw but die, when it compiles a regular
 * expression with the stack nearly full. Estimated from the text, before parsing.
 */
export const MAX_YAML_NESTING = 200;

/**
 * Deepest nesting of arrays and objects a body may have. A job needs 3 levels; a body of 100,000 nested
 * arrays is legal JSON and fits in 1 MiB, but any recursive code that touched it would overflow the stack.
 */
export const MAX_DEPTH = 32;

function hasBody(ctx: Context): boolean {
  const length = ctx.request.length;
  return (length !== undefined && length > 0) || ctx.get('transfer-encoding') !== '';
}

/** Middleware: rejects bodies of other types (415) or too large (413), then parses JSON or YAML. */
export function parseBody() {
  // koa-bodyparser (with co-body, qs, ...) is imported at the first request with a body, not with the daemon:
  // it was a sixth of an empty daemon's start and 6 MiB (docs/benchmarks.md).
  let parser: Promise<ReturnType<typeof bodyParser>> | undefined;
  const options: bodyParser.Options = {
    enableTypes: ['json', 'text'],
    extendTypes: { json: JSON_TYPES, text: YAML_TYPES },
    jsonLimit: `${BODY_LIMIT}b`,
    // Only YAML is read as text.
    textLimit: `${YAML_BODY_LIMIT}b`,
    strict: true,
    onerror(err: Error & { status?: number }, ctx: Context) {
      if (err.status === 413) throw tooLarge(Boolean(ctx.is(YAML_TYPES)));
      const text = (err as { body?: unknown }).body;
      if (typeof text === 'string' && isJsonScalar(text)) throw notAnObject(text.trim());
      throw new WatchbellError('INVALID_JSON', `request body is not valid JSON: ${err.message}`);
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
    if (isYaml) ctx.request.body = parseYamlBody(String(ctx.request.body ?? ''));
    checkDepth(ctx.request.body);
    return next();
  }
}

/** True for `null`, a number, a string or a boolean: valid JSON that strict parsing refuses as not an object. */
function isJsonScalar(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return value === null || typeof value !== 'object';
  } catch {
    return false;
  }
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

function parseYamlBody(text: string): unknown {
  const deep = yamlTooDeep(text);
  if (deep) {
    const message = `body: nested deeper than ${MAX_YAML_NESTING} levels of indentation and brackets (line ${deep.line}); a job needs at most 3`;
    throw new WatchbellError('VALIDATION_FAILED', message, { details: [{ path: '', message }] });
  }
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  // Unique keys are checked below, in linear time: the parser's own check is quadratic (15 s for 40,000 keys).
  // logLevel: a client's YAML must not write warnings to the daemon's stderr.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, logLevel: 'error' });
  const duplicate = doc.errors.length ? undefined : firstDuplicateKey(doc.contents);
  if (doc.errors.length || duplicate) {
    const offset = duplicate ? duplicate.offset : doc.errors[0]!.pos[0];
    const why = duplicate ? `Map keys must be unique (${JSON.stringify(duplicate.key.slice(0, 60))} is given twice)` : doc.errors[0]!.message.split('\n')[0];
    const pos = lineCounter.linePos(offset);
    throw new WatchbellError('INVALID_YAML', `request body is not valid YAML at line ${pos.line}, column ${pos.col}: ${why}`);
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // An alias bomb ("excessive alias count") or nesting too deep to convert.
    throw new WatchbellError('INVALID_YAML', `request body is not usable YAML: ${(err as Error).message}`);
  }
}

/**
 * Where YAML text nests deeper than MAX_YAML_NESTING, or null. An over-estimate, never an under-estimate:
 * a line's indentation plus its leading block indicators (`- `, `? `, `: `) plus the brackets open at any
 * point, counting brackets inside quotes too.
 */
export function yamlTooDeep(text: string): { line: number } | null {
  const blank = (c: string | undefined) => c === undefined || c === ' ' || c === '\t' || c === '\n' || c === '\r';
  let flow = 0;
  let line = 1;
  let i = 0;
  while (i < text.length) {
    let indent = 0;
    // Indentation and block indicators, all counted as levels.
    while (text[i] === ' ' || text[i] === '\t' || ((text[i] === '-' || text[i] === '?' || text[i] === ':') && i + 1 < text.length && blank(text[i + 1]))) {
      indent++;
      i++;
    }
    if (indent + flow > MAX_YAML_NESTING) return { line };
    for (; i < text.length && text[i] !== '\n'; i++) {
      const c = text[i];
      if (c === '[' || c === '{') {
        if (indent + ++flow > MAX_YAML_NESTING) return { line };
      } else if ((c === ']' || c === '}') && flow > 0) flow--;
    }
    i++;
    line++;
  }
  return null;
}

/** Throws VALIDATION_FAILED when `value` nests deeper than MAX_DEPTH; iterative, so it cannot overflow itself. */
function checkDepth(value: unknown): void {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > MAX_DEPTH) {
      const message = `body: nested deeper than ${MAX_DEPTH} levels of arrays and objects; a job needs at most 3`;
      throw new WatchbellError('VALIDATION_FAILED', message, { details: [{ path: '', message }] });
    }
    for (const child of Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
}
