/** Query string parameters, checked: a bad one is a 400 that names it and says what it takes. */
import type { Context } from 'koa';
import { WatchbellError } from '../jobs/errors.js';

function single(ctx: Context, name: string): string | undefined {
  const v = ctx.query[name];
  if (Array.isArray(v)) throw bad(name, v.join(','), 'a single value');
  return v;
}

function bad(name: string, value: string, expected: string): WatchbellError {
  const message = `query parameter ${name}=${JSON.stringify(value.length > 80 ? value.slice(0, 77) + '...' : value)} is invalid; expected ${expected}`;
  return new WatchbellError('VALIDATION_FAILED', message, { details: [{ path: `/query/${name}`, message }] });
}

/**
 * Refuses any query parameter not in `known`, as unknown body fields are: a caller who sends `page=` or
 * `size=` learns that the names are `limit` and `offset` instead of getting the first page in silence.
 */
export function allowQuery(ctx: Context, known: readonly string[]): void {
  if (ctx.querystring === '') return;
  const unknown = Object.keys(ctx.query).filter((name) => !known.includes(name));
  if (unknown.length === 0) return;
  const expected = known.length ? `expected ${known.length === 1 ? '' : 'one of '}${known.join(', ')}` : 'this route takes none';
  const details = unknown.map((name) => ({ path: `/query/${name}`, message: `query parameter ${clip(name)}: unknown parameter; ${expected}` }));
  const names = unknown.slice(0, 5).map(clip).join(', ') + (unknown.length > 5 ? ` (and ${unknown.length - 5} more)` : '');
  throw new WatchbellError('VALIDATION_FAILED', `unknown query parameter${unknown.length === 1 ? '' : 's'} ${names}; ${expected}`, { details });
}

function clip(text: string): string {
  return JSON.stringify(text.length > 40 ? text.slice(0, 37) + '...' : text);
}

/** An integer parameter within [min, max], or `fallback` when absent. */
export function intParam(ctx: Context, name: string, fallback: number, min: number, max: number): number {
  const raw = single(ctx, name);
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw bad(name, raw, `an integer from ${min} to ${max}`);
  return Number(raw);
}

/** One of `allowed`, or undefined when absent. */
export function enumParam<T extends string>(ctx: Context, name: string, allowed: readonly T[]): T | undefined {
  const raw = single(ctx, name);
  if (raw === undefined || raw === '') return undefined;
  if (!(allowed as readonly string[]).includes(raw)) throw bad(name, raw, `one of ${allowed.join(', ')}`);
  return raw as T;
}

/** A free-text parameter of at most `maxLength` characters. */
export function textParam(ctx: Context, name: string, maxLength = 200): string | undefined {
  const raw = single(ctx, name);
  if (raw === undefined) return undefined;
  if (raw.length > maxLength) throw bad(name, raw, `at most ${maxLength} characters`);
  return raw;
}

/** A required free-text parameter. */
export function requiredParam(ctx: Context, name: string, maxLength = 200): string {
  const raw = textParam(ctx, name, maxLength);
  if (raw === undefined || raw === '') {
    const message = `query parameter ${name} is required`;
    throw new WatchbellError('VALIDATION_FAILED', message, { details: [{ path: `/query/${name}`, message }] });
  }
  return raw;
}

/** Largest `limit=` a list accepts. */
export const MAX_LIMIT = 1000;
