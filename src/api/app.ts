/** The Koa app, built apart from `listen` so tests and the daemon share it. */
import { Koa, Router } from '../vendor/koa.js';
import { WatchbellError } from '../jobs/errors.js';
import { checkNotBrowser, checkToken, requireToken } from './auth.js';
import type { ApiDeps } from './deps.js';
import { errorHandler } from './errors.js';
import { configRoutes } from './routes/config.js';
import { nodeRoutes } from './routes/nodes.js';
import { openApiDocument } from './openapi.js';
import { allowQuery } from './query.js';
import { executionRoutes } from './routes/executions.js';
import { jobReadShortcut, jobRoutes } from './routes/jobs.js';
import { scheduleRoutes } from './routes/schedule.js';
import { serveUi } from './static-ui.js';

/** The Koa app, with the routers it serves (for the test that checks the OpenAPI document lists them all). */
export type WatchbellApp = Koa & { readonly routers: readonly Router[] };

/** Builds the API: /health, /metrics, and everything else under /api/v1. */
export function createApp(deps: ApiDeps): WatchbellApp {
  const app = new Koa();
  // Koa would print every error to stderr; errorHandler already logs the ones that matter.
  app.silent = true;

  app.use(errorHandler((err, ctx) => deps.logError(err, { method: ctx.method, path: ctx.path })));
  app.use(async (ctx, next) => {
    // Answers are about live state: no proxy or browser may keep them.
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Content-Type-Options', 'nosniff');
    await next();
    if (ctx.body !== undefined && ctx.body !== null) return;
    // Nothing answered: no route has this path (a wrong method on a known path got 405 below).
    if (ctx.status === 404) throw routeNotFound(ctx.method, ctx.path);
    // The router set the status and `Allow` (RFC 9110: a 405 lists the methods the path takes); the body is ours.
    if (ctx.status === 405 || ctx.status === 501) throw methodError(ctx.status, ctx.method, ctx.path, ctx.response.get('Allow'));
  });

  // Case-sensitive: the router's default matches /API/V1/... too, a path the guards below would not see as the API.
  const root = new Router({ sensitive: true });
  root.get('/health', async (ctx) => {
    const report = await deps.health();
    ctx.status = report.status === 'UP' ? 200 : 503;
    ctx.body = report;
  });
  if (deps.metrics) {
    const metrics = deps.metrics;
    const guard = requireToken(deps.tokens);
    // Open like /health, unless tokens are configured and api.metrics_public is not set.
    root.get('/metrics', (ctx, next) => (deps.metricsPublic?.() ? next() : guard(ctx, next)), async (ctx) => {
      const scrape = await metrics();
      ctx.set('Content-Type', scrape.contentType);
      ctx.body = scrape.body;
    });
  }

  const api = new Router({ prefix: '/api/v1', sensitive: true });
  jobRoutes(api, deps);
  executionRoutes(api, deps);
  scheduleRoutes(api, deps);
  configRoutes(api, deps);
  nodeRoutes(api, deps);
  api.get('/openapi.json', (ctx) => {
    allowQuery(ctx, []);
    ctx.body = openApiDocument();
  });
  // Who the caller is: the dashboard shows write buttons only to an admin token (no tokens configured: everyone is).
  api.get('/session', (ctx) => {
    allowQuery(ctx, []);
    const open = deps.tokens().length === 0;
    ctx.body = { data: { token: (ctx.state.token as string | undefined) ?? null, scope: open ? 'admin' : ((ctx.state.scope as string | undefined) ?? null) } };
  });
  api.get('/events', (ctx) => {
    allowQuery(ctx, []);
    if (!deps.liveEvents) throw new WatchbellError('ROUTE_NOT_FOUND', 'this server has no event stream');
    deps.liveEvents.serve(ctx);
  });

  // The two routes outside /api/v1, matched by the router only for their own paths.
  const rootRoutes = root.routes();
  const rootMethods = root.allowedMethods();
  app.use((ctx, next) => {
    if (ctx.path !== '/health' && ctx.path !== '/metrics') return next();
    // Job ids, paths and notifiers' origins: behind the same Origin and Host checks as /api/v1 (DNS rebinding).
    checkNotBrowser(ctx, deps.tokens());
    return rootMethods(ctx as Parameters<typeof rootMethods>[0], () => rootRoutes(ctx as Parameters<typeof rootRoutes>[0], next));
  });
  if (deps.ui !== undefined) app.use(serveUi(deps.ui));
  app.use(guardApi(deps));
  app.use(jobReadShortcut(deps.service));
  app.use(api.routes());
  app.use(api.allowedMethods());
  return Object.assign(app, { routers: [root, api] as const });
}

/**
 * Browser refusal and tokens for every request under /api/v1, whether a route matches or not (no token:
 * 401, not 404), OPTIONS included. One plain middleware rather than two `router.use()` layers, which the
 * router matched and composed anew on every request (see docs/benchmarks.md, API read). Bodies are parsed
 * only by the routes that take one (parseBody() in routes/jobs.ts).
 */
function guardApi(deps: ApiDeps): Koa.Middleware {
  return (ctx, next) => {
    // Any case: should a route ever match another spelling, it is still behind the guards.
    if (!API_PATH.test(ctx.path)) return next();
    const tokens = deps.tokens();
    checkNotBrowser(ctx, tokens);
    // The dashboard asks who it is before it has a token: answered (not signed in) rather than 401.
    if (!(ctx.path === '/api/v1/session' && !ctx.get('authorization'))) checkToken(ctx, tokens);
    return next();
  };
}

const API_PATH = /^\/api\/v1(?:\/|$)/i;

function routeNotFound(method: string, path: string): WatchbellError {
  const where = API_PATH.test(path)
    ? 'GET /api/v1/openapi.json lists the routes (see docs/api.md)'
    : 'the API lives under /api/v1 (see docs/api.md)';
  return new WatchbellError('ROUTE_NOT_FOUND', `no route ${method} ${path}; ${where}`);
}

function methodError(status: number, method: string, path: string, allow: string): WatchbellError {
  const allowed = allow ? `; allowed: ${allow}` : '';
  const what = status === 405 ? 'not allowed on' : 'not implemented for';
  return new WatchbellError('METHOD_NOT_ALLOWED', `method ${method} ${what} ${path}${allowed}`);
}
