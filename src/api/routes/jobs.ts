/** /api/v1/jobs: list, create, read, update, delete, run, pause, resume. */
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { JobService } from '../../service/job-service.js';
import { parseBody } from '../body.js';
import type { ApiDeps } from '../deps.js';
import { JOB_SORTS } from '../../jobs/job.js';
import { allowQuery, enumParam, intParam, MAX_LIMIT, textParam } from '../query.js';

/** Routes on jobs themselves. */
export function jobRoutes(router: Router, deps: ApiDeps): void {
  const { service } = deps;
  // Only these routes (and advance, routes/executions.ts) read a body: a body sent elsewhere is never parsed (docs/security.md, Limits).
  const body = parseBody();

  router.get('/jobs', (ctx) => {
    allowQuery(ctx, ['limit', 'offset', 'status', 'tag', 'q', 'sort']);
    const limit = intParam(ctx, 'limit', 100, 1, MAX_LIMIT);
    const offset = intParam(ctx, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
    const status = enumParam(ctx, 'status', ['active', 'paused', 'completed'] as const);
    const sort = enumParam(ctx, 'sort', JOB_SORTS);
    const page = service.list({ limit, offset, status, sort, tag: textParam(ctx, 'tag', 64), q: textParam(ctx, 'q') });
    ctx.body = { data: page.items, pagination: { total: page.total, limit, offset } };
  });

  router.post('/jobs', body, async (ctx) => {
    allowQuery(ctx, []);
    ctx.status = 201;
    ctx.body = { data: await service.create(ctx.request.body) };
    ctx.set('Location', `/api/v1/jobs/${(ctx.body as { data: { id: string } }).data.id}`);
  });

  // Also answered, for the same paths, by jobReadShortcut() below.
  router.get('/jobs/:id', (ctx) => sendJob(ctx, service, ctx.params.id!));

  router.put('/jobs/:id', body, async (ctx) => {
    allowQuery(ctx, []);
    ctx.body = { data: await service.update(ctx.params.id!, ctx.request.body ?? {}) };
  });

  router.delete('/jobs/:id', async (ctx) => {
    allowQuery(ctx, []);
    await service.delete(ctx.params.id!);
    ctx.body = { data: { message: 'Job deleted successfully', id: ctx.params.id } };
  });

  router.post('/jobs/:id/run', body, async (ctx) => {
    allowQuery(ctx, []);
    const execution = await service.run(ctx.params.id!, ctx.request.body);
    ctx.status = 202;
    ctx.body = { data: { message: 'Job triggered successfully', execution_id: execution.id } };
  });

  router.post('/jobs/:id/pause', async (ctx) => {
    allowQuery(ctx, []);
    const job = await service.pause(ctx.params.id!);
    ctx.body = { data: { message: 'Job paused successfully', id: job.id, status: job.status } };
  });

  router.post('/jobs/:id/resume', async (ctx) => {
    allowQuery(ctx, []);
    const job = await service.resume(ctx.params.id!);
    ctx.body = { data: { message: 'Job resumed successfully', id: job.id, status: job.status, next_run: job.next_run } };
  });
}

/** `GET /jobs/{id}`'s answer: the job's cached JSON view. */
function sendJob(ctx: Context, service: JobService, id: string): void {
  allowQuery(ctx, []);
  ctx.type = 'application/json';
  ctx.body = service.getJson(id);
}

// What the router's `/jobs/:id` matches in its plain spelling: one segment, no trailing slash, lower case.
const JOB_PATH = /^\/api\/v1\/jobs\/([^/]+)$/;

/**
 * Middleware for `GET` and `HEAD /api/v1/jobs/{id}`, the request that dashboards and monitoring poll,
 * answered without the router: @koa/router tests every route's pattern and composes a new middleware chain
 * on each request, which was a fifth of this request's CPU (docs/benchmarks.md, API read). The other
 * spelling the router accepts (a trailing slash) falls through to it, and is answered the same.
 */
export function jobReadShortcut(service: JobService): Middleware {
  return (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    const m = JOB_PATH.exec(ctx.path);
    if (!m) return next();
    sendJob(ctx, service, decodeSegment(m[1]!));
    return Promise.resolve();
  };
}

/** Decodes a path segment as the router decodes its params: a malformed escape leaves the text as it is. */
function decodeSegment(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
