/** /api/v1/jobs: list, create, read, update, delete, run, pause, resume. */
import Router from '@koa/router';
import type { ApiDeps } from '../deps.js';
import { enumParam, intParam, MAX_LIMIT, textParam } from '../query.js';

/** Routes on jobs themselves. */
export function jobRoutes(router: Router, deps: ApiDeps): void {
  const { service } = deps;

  router.get('/jobs', (ctx) => {
    const limit = intParam(ctx, 'limit', 100, 1, MAX_LIMIT);
    const offset = intParam(ctx, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
    const status = enumParam(ctx, 'status', ['active', 'paused', 'completed'] as const);
    const page = service.list({ limit, offset, status, tag: textParam(ctx, 'tag', 64), q: textParam(ctx, 'q') });
    ctx.body = { data: page.items, pagination: { total: page.total, limit, offset } };
  });

  router.post('/jobs', async (ctx) => {
    ctx.status = 201;
    ctx.body = { data: await service.create(ctx.request.body) };
    ctx.set('Location', `/api/v1/jobs/${(ctx.body as { data: { id: string } }).data.id}`);
  });

  router.get('/jobs/:id', (ctx) => {
    ctx.type = 'application/json';
    ctx.body = service.getJson(ctx.params.id!);
  });

  router.put('/jobs/:id', async (ctx) => {
    ctx.body = { data: await service.update(ctx.params.id!, ctx.request.body ?? {}) };
  });

  router.delete('/jobs/:id', async (ctx) => {
    await service.delete(ctx.params.id!);
    ctx.body = { data: { message: 'Job deleted successfully', id: ctx.params.id } };
  });

  router.post('/jobs/:id/run', async (ctx) => {
    const execution = await service.run(ctx.params.id!);
    ctx.status = 202;
    ctx.body = { data: { message: 'Job triggered successfully', execution_id: execution.id } };
  });

  router.post('/jobs/:id/pause', async (ctx) => {
    const job = await service.pause(ctx.params.id!);
    ctx.body = { data: { message: 'Job paused successfully', id: job.id, status: job.status } };
  });

  router.post('/jobs/:id/resume', async (ctx) => {
    const job = await service.resume(ctx.params.id!);
    ctx.body = { data: { message: 'Job resumed successfully', id: job.id, status: job.status, next_run: job.next_run } };
  });
}
