/** Bearer tokens with scopes: `read` may only GET, `admin` may do anything. */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { ApiToken } from '../config/settings.js';
import { WatchbellError } from '../jobs/errors.js';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

// Comparing digests keeps the comparison constant-time whatever the tokens' lengths.
const digest = (s: string) => createHash('sha256').update(s).digest();

/** checkToken() as middleware (for /metrics): with no tokens configured it lets every request through. */
export function requireToken(tokens: () => ApiToken[]) {
  return function auth(ctx: Context, next: Next): Promise<void> {
    checkToken(ctx, tokens());
    return next();
  };
}

/**
 * Throws 401 or 403 unless the request carries one of `configured`. With none configured every request
 * passes: the API is open, and the daemon then listens on loopback only.
 */
export function checkToken(ctx: Context, configured: readonly ApiToken[]): void {
  if (configured.length === 0) return;
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
  ctx.state.scope = match.scope;
}

/**
 * Browsers on other origins are not clients of this API: CORS is off, so no page elsewhere may read its answers;
 * the daemon's own dashboard (same origin) is.
 * Two browser attacks still reach a daemon that listens on loopback without tokens, and are refused here:
 * - a cross-site request (a page POSTing to http://127.0.0.1:8080/api/v1/jobs/x/run needs no CORS preflight):
 *   browsers mark it with an `Origin` header naming the other site (API clients such as curl send none);
 * - DNS rebinding (a page whose own host name now resolves to 127.0.0.1, so its requests count as same-origin):
 *   its requests name that host in `Host`, so without tokens only requests addressed to a loopback name are answered.
 * With tokens configured a page cannot get one, so `Host` is not checked then (proxies may send any name).
 * Throws 403 for such a request.
 */
export function checkNotBrowser(ctx: Context, configured: readonly ApiToken[]): void {
  const origin = ctx.get('origin');
  if (origin && !isOwnOrigin(origin, ctx.get('host'))) {
    throw new WatchbellError(
      'FORBIDDEN',
      `requests from web pages (Origin ${quote(origin)}) are refused: the API does not serve browsers (CORS is off); see docs/security.md`,
    );
  }
  // A unix socket has no remote address, and no browser can reach it.
  const overTcp = ctx.req.socket.remoteAddress !== undefined;
  const host = ctx.get('host');
  if (overTcp && configured.length === 0 && !isLoopbackHost(host)) {
    throw new WatchbellError(
      'FORBIDDEN',
      `Host ${quote(host)} is not a loopback name: without api.tokens only requests addressed to 127.0.0.1, [::1] or localhost ` +
        'are answered (protection against DNS rebinding); configure a token under api.tokens to serve other names',
    );
  }
}

/**
 * True when a page's `Origin` is the daemon's own, i.e. the dashboard it serves: the same scheme-less
 * Host the request is addressed to (http, or https behind a TLS proxy). A page elsewhere has another
 * origin; one on a rebound name passes here but meets the Host and token checks as before.
 */
export function isOwnOrigin(origin: string, host: string): boolean {
  return host !== '' && (origin === `http://${host}` || origin === `https://${host}`);
}

/** True for a Host header naming this machine's loopback: `localhost`, `127.x.x.x` or `[::1]`, with any port. */
export function isLoopbackHost(host: string): boolean {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::\d{1,5})?$/.exec(host.trim());
  if (!m) return false;
  const name = (m[1] ?? m[2]!).toLowerCase();
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

function quote(s: string): string {
  const shown = JSON.stringify(s);
  return shown.length > 80 ? `${shown.slice(0, 77)}...` : shown;
}
