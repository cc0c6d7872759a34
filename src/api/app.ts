/** The Koa app, built apart from `listen` so tests and the daemon share it. */
import Router from '@koa/router';
import Koa from 'koa';
import { WatchbellError } from '../jobs/errors.js';
import { refuseBrowsers, requireToken } from './auth.js';
import { parseBody } from './body.js';
import type { ApiDeps } from './deps.js';
import { errorHandler } from './errors.js';
import { configRoutes } from './routes/config.js';
import { openApiDocument } from './openapi.js';
import { executionRoutes } from './routes/executions.js';
import { jobRoutes } from './routes/jobs.js';
import { scheduleRoutes } from './routes/schedule.js';

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
  });

  const root = new Router();
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

  const api = new Router({ prefix: '/api/v1' });
  api.use(refuseBrowsers(deps.tokens));
  api.use(requireToken(deps.tokens));
  api.use(parseBody());
  jobRoutes(api, deps);
  executionRoutes(api, deps);
  scheduleRoutes(api, deps);
  configRoutes(api, deps);
  api.get('/openapi.json', (ctx) => {
    ctx.body = openApiDocument();
  });

  app.use(async (ctx, next) => {
    await next();
    // Nothing answered: no route has this path (a wrong method on a known path got 405 below).
    if (ctx.status === 404 && ctx.body === undefined) {
      throw new WatchbellError('ROUTE_NOT_FOUND', `no route ${ctx.method} ${ctx.path}; the API lives under /api/v1 (see docs/api.md)`);
    }
  });
  app.use(root.routes());
  app.use(api.routes());
  app.use(api.allowedMethods({ throw: true, notImplemented: () => methodError(501), methodNotAllowed: () => methodError(405) }));
  return Object.assign(app, { routers: [root, api] as const });
}

function methodError(status: number): Error {
  return new WatchbellError('METHOD_NOT_ALLOWED', status === 405 ? 'method not allowed on this route' : 'method not implemented');
}
