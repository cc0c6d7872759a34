/** Bearer tokens with scopes: `read` may only GET, `admin` may do anything. */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { ApiToken } from '../config/settings.js';
import { WatchbellError } from '../jobs/errors.js';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

// Comparing digests keeps the comparison constant-time whatever the tokens' lengths.
const digest = (s: string) => createHash('sha256').update(s).digest();

/** Middleware for /api/v1: with no tokens configured the API is open (the daemon then listens on loopback only). */
export function requireToken(tokens: () => ApiToken[]) {
  return async function auth(ctx: Context, next: Next): Promise<void> {
    const configured = tokens();
    if (configured.length === 0) return next();
    const header = ctx.get('authorization');
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) {
      ctx.set('WWW-Authenticate', 'Bearer realm="watchbell"');
      throw new WatchbellError('UNAUTHORIZED', 'missing or malformed Authorization header; send "Authorization: Bearer <token>"');
    }
    const given = digest(m[1]!);
    let match: ApiToken | undefined;
    for (const t of configured) {
      if (timingSafeEqual(given, digest(t.token)) && !match) match = t;
    }
    if (!match) {
      ctx.set('WWW-Authenticate', 'Bearer realm="watchbell", error="invalid_token"');
      throw new WatchbellError('UNAUTHORIZED', 'invalid API token');
    }
    if (match.scope === 'read' && !READ_METHODS.has(ctx.method)) {
      throw new WatchbellError('FORBIDDEN', `token ${JSON.stringify(match.name)} has scope "read" and cannot ${ctx.method} ${ctx.path}; use an admin token`);
    }
    ctx.state.token = match.name;
    return next();
  };
}
