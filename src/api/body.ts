/** Request bodies: JSON, or YAML with `Content-Type: application/yaml` or `text/yaml`, at most 1 MiB. */
import type { Context, Next } from 'koa';
import bodyParser from 'koa-bodyparser';
import { LineCounter, parseDocument } from 'yaml';
import { WatchbellError } from '../jobs/errors.js';

const YAML_TYPES = ['application/yaml', 'text/yaml', 'application/x-yaml', 'text/x-yaml'];
const JSON_TYPES = ['application/json', '+json'];

/** Largest request body accepted, in bytes. */
export const BODY_LIMIT = 1024 * 1024;

function hasBody(ctx: Context): boolean {
  const length = ctx.request.length;
  return (length !== undefined && length > 0) || ctx.get('transfer-encoding') !== '';
}

/** Middleware: rejects bodies of other types (415) or too large (413), then parses JSON or YAML. */
export function parseBody() {
  const parse = bodyParser({
    enableTypes: ['json', 'text'],
    extendTypes: { json: JSON_TYPES, text: YAML_TYPES },
    jsonLimit: `${BODY_LIMIT}b`,
    textLimit: `${BODY_LIMIT}b`,
    strict: true,
    onerror(err: Error & { status?: number }) {
      if (err.status === 413) throw new WatchbellError('BODY_TOO_LARGE', `request body is larger than ${BODY_LIMIT} bytes (1 MiB)`);
      throw new WatchbellError('INVALID_JSON', `request body is not valid JSON: ${err.message}`);
    },
  });

  return async function body(ctx: Context, next: Next): Promise<void> {
    if (!hasBody(ctx)) {
      ctx.request.body = undefined;
      return next();
    }
    const declared = ctx.length;
    if (declared !== undefined && declared > BODY_LIMIT) {
      throw new WatchbellError('BODY_TOO_LARGE', `request body is larger than ${BODY_LIMIT} bytes (1 MiB)`);
    }
    const isYaml = Boolean(ctx.is(YAML_TYPES));
    if (!isYaml && !ctx.is(JSON_TYPES)) {
      throw new WatchbellError(
        'UNSUPPORTED_MEDIA_TYPE',
        `Content-Type ${JSON.stringify(ctx.get('content-type') || '(none)')} is not supported; send application/json, application/yaml or text/yaml`,
      );
    }
    await parse(ctx, async () => undefined);
    if (isYaml) ctx.request.body = parseYamlBody(String(ctx.request.body ?? ''));
    return next();
  };
}

function parseYamlBody(text: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const pos = lineCounter.linePos(e.pos[0]);
    const where = ` at line ${pos.line}, column ${pos.col}`;
    throw new WatchbellError('INVALID_YAML', `request body is not valid YAML${where}: ${e.message.split('\n')[0]}`);
  }
  return doc.toJS({ maxAliasCount: 100 });
}
