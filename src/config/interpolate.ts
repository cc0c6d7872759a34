/** `${VAR}` and `${VAR:-default}` from the environment in every string of the config; `$$` is a literal `$`. */
import type { FieldError } from '../jobs/errors.js';
import { label } from '../jobs/schema-validator.js';

const TOKEN_RE = /\$\$|\$\{([^}]*)\}/g;
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Returns a copy of `value` with variables replaced, and one error per unset or malformed variable. */
export function interpolate(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path = '',
  errors: FieldError[] = [],
): { value: unknown; errors: FieldError[] } {
  const walk = (v: unknown, p: string): unknown => {
    if (typeof v === 'string') return replaceIn(v, p);
    if (Array.isArray(v)) return v.map((item, i) => walk(item, `${p}/${i}`));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) out[k] = walk(item, `${p}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`);
      return out;
    }
    return v;
  };
  const replaceIn = (text: string, p: string): string =>
    text.replace(TOKEN_RE, (whole, inner: string | undefined) => {
      if (whole === '$$') return '$';
      const body = inner ?? '';
      const sep = body.indexOf(':-');
      const name = sep >= 0 ? body.slice(0, sep) : body;
      if (!NAME_RE.test(name)) {
        errors.push({ path: p, message: `${label(p)}: "\${${body}}" is not a valid variable reference; expected \${NAME} or \${NAME:-default} (write $$ for a literal $)` });
        return whole;
      }
      const set = env[name];
      if (set !== undefined && set !== '') return set;
      if (sep >= 0) return body.slice(sep + 2);
      if (set === '') return '';
      errors.push({ path: p, message: `${label(p)}: environment variable ${name} is not set; set it or write \${${name}:-default}` });
      return whole;
    });
  return { value: walk(value, path), errors };
}
