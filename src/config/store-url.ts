/** `daemon.store`: the PostgreSQL URL, its schema parameter, and how it is shown without its password. */

/** The schema a URL without `?schema=` uses. */
export const DEFAULT_PG_SCHEMA = 'watchbell';
/** An unquoted PostgreSQL identifier, so it can be put into SQL as is. */
const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

export interface StoreUrl {
  /** The URL for node-postgres, without watchbell's own `schema` parameter. */
  connectionString: string;
  schema: string;
  /** The URL as it may be shown: password replaced by `***`. */
  shown: string;
}

/** Why `url` is not a usable store URL, or null when it is. */
export function storeUrlProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') return `has the scheme ${parsed.protocol.slice(0, -1)}, not postgres`;
  if (!parsed.hostname && !parsed.searchParams.get('host')) return 'names no host';
  const schema = parsed.searchParams.get('schema');
  if (schema !== null && !SCHEMA_RE.test(schema)) return `has schema=${schema}, which is not a lower-case SQL name (a-z, 0-9, _)`;
  return null;
}

/** Splits a checked store URL into what node-postgres takes and the schema name. */
export function parseStoreUrl(url: string): StoreUrl {
  const problem = storeUrlProblem(url);
  if (problem !== null) throw new Error(`store URL ${maskStoreUrl(url)} ${problem}`);
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema') ?? DEFAULT_PG_SCHEMA;
  parsed.searchParams.delete('schema');
  return { connectionString: parsed.toString(), schema, shown: maskStoreUrl(url) };
}

/** `url` with its password (if any) replaced by `***`; text that is no URL is hidden whole. */
export function maskStoreUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '***';
  }
  if (parsed.password) parsed.password = '***';
  for (const key of ['password', 'sslpassword']) if (parsed.searchParams.has(key)) parsed.searchParams.set(key, '***');
  return parsed.toString().replace('%2A%2A%2A', '***');
}

/** Removes every occurrence of the URL's password from `text` (an error message of the driver, say). */
export function hideStorePassword(text: string, url: string): string {
  let password = '';
  try {
    password = decodeURIComponent(new URL(url).password);
  } catch {
    return text;
  }
  return password.length > 0 ? text.split(password).join('***') : text;
}
