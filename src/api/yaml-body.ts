/** A YAML request body -> plain data, with the checks that keep hostile YAML from crashing or hanging the parser. */
import { firstDuplicateKey, yaml } from '../config/yaml-source.js';
import { WatchbellError } from '../jobs/errors.js';
import { checkShape } from './body-shape.js';

/**
 * Deepest YAML nesting (indentation, block indicators and open brackets) let through to the parser, which
 * recurses once per level: at a few thousand levels V8 may not throw but die, when it compiles a regular
 * expression with the stack nearly full. Estimated from the text, before parsing.
 */
export const MAX_YAML_NESTING = 200;

/** Parses YAML text as a request body; throws INVALID_YAML or VALIDATION_FAILED. Costs up to ~3 s per MiB: run it in yaml-worker.ts. */
export function parseYamlBody(text: string): unknown {
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
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // An alias bomb ("excessive alias count") or nesting too deep to convert.
    throw new WatchbellError('INVALID_YAML', `request body is not usable YAML: ${(err as Error).message}`);
  }
  // Checked here, in the worker: what it sends back is copied on the main thread, and must be small.
  checkShape(value);
  return value;
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
