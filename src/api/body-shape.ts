/**
 * Bounds on what a parsed request body may hold, checked in linear time, so that no body costs the event
 * loop more than a few milliseconds (docs/security.md, Limits). Shared by the JSON path (main thread) and
 * the YAML parser's worker (yaml-worker.ts): it imports nothing that touches the daemon.
 */
import { WatchbellError } from '../jobs/errors.js';

/**
 * Deepest nesting of arrays and objects a body may have. A job needs 3 levels; a body of 100,000 nested
 * arrays is legal JSON and fits in 1 MiB, but any recursive code that touched it would overflow the stack.
 */
export const MAX_DEPTH = 32;

/**
 * Most values (objects, arrays, strings, numbers, ...) a body may hold. The largest job the schema allows
 * has about 1,300 (a command of 1,000 arguments, 200 environment variables, 50 tags); parsing 500,000 numbers
 * in 1 MiB of JSON took 80-260 ms of the event loop, 5,000 take about 2 ms.
 */
export const MAX_VALUES = 5000;

/** The VALIDATION_FAILED error of a body that nests too deep or holds too much. */
export function shapeError(why: 'depth' | 'values'): WatchbellError {
  const message = why === 'depth'
    ? `body: nested deeper than ${MAX_DEPTH} levels of arrays and objects; a job needs at most 3`
    : `body: holds more than ${MAX_VALUES} values (objects, arrays, strings, numbers); a job needs far fewer`;
  return new WatchbellError('VALIDATION_FAILED', message, { details: [{ path: '', message }] });
}

/**
 * Checks JSON text before JSON.parse sees it: 'depth' or 'values' when parsing it would build more than the
 * bounds allow, else null. Counts brackets and separators outside strings; malformed text is left to JSON.parse.
 */
export function jsonShapeProblem(text: string): 'depth' | 'values' | null {
  let depth = 0;
  let values = 1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_DEPTH) return 'depth';
      if (++values > MAX_VALUES) return 'values';
    } else if (c === 0x5d || c === 0x7d) depth--;
    // A comma starts the next element, or the next key and its value.
    else if (c === 0x2c && ++values > MAX_VALUES) return 'values';
  }
  return null;
}

/** Throws VALIDATION_FAILED when `value` nests deeper than MAX_DEPTH or holds more than MAX_VALUES; iterative. */
export function checkShape(value: unknown): void {
  const stack: Array<[unknown, number]> = [[value, 1]];
  let values = 0;
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (++values > MAX_VALUES) throw shapeError('values');
    if (v === null || typeof v !== 'object') continue;
    if (depth > MAX_DEPTH) throw shapeError('depth');
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
}
