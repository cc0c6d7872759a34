/** Executions: per job, across jobs, one, its log, cancel, and the newest log's tail. */
import Router from '@koa/router';
import type { ExecutionStatus } from '../../jobs/execution.js';
import { parseBody } from '../body.js';
import type { ApiDeps } from '../deps.js';
import { sendLogBody } from '../log-body.js';
import { allowQuery, enumParam, intParam, MAX_LIMIT, textParam } from '../query.js';

const STATUSES: readonly ExecutionStatus[] = ['queued', 'in_progress', 'waiting', 'success', 'failure', 'cancelled', 'skipped'];
const MAX_TAIL = 100_000;

/** Routes on executions and their logs. */
export function executionRoutes(router: Router, deps: ApiDeps): void {
  const { service } = deps;

  router.get('/jobs/:id/executions', async (ctx) => {
    allowQuery(ctx, ['limit', 'offset', 'status']);
    const limit = intParam(ctx, 'limit', 10, 1, MAX_LIMIT);
    const offset = intParam(ctx, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
    const page = service.executions(ctx.params.id!, { limit, offset, status: enumParam(ctx, 'status', STATUSES) });
    ctx.body = { data: await service.withProgress(page.items), pagination: { total: page.total, limit, offset } };
  });

  router.get('/jobs/:id/executions/:eid', async (ctx) => {
    allowQuery(ctx, []);
    const [execution] = await service.withProgress([service.execution(ctx.params.id!, ctx.params.eid!)]);
    ctx.body = { data: execution };
  });

  router.get('/jobs/:id/executions/:eid/log', async (ctx) => {
    allowQuery(ctx, ['stream', 'tail', 'follow', 'step']);
    const stream = enumParam(ctx, 'stream', ['stdout', 'stderr'] as const);
    const step = textParam(ctx, 'step', 63);
    const tail = ctx.query.tail === undefined ? undefined : intParam(ctx, 'tail', 0, 0, MAX_TAIL);
    const follow = enumParam(ctx, 'follow', ['true', 'false'] as const) === 'true';
    // Ends the read when the client goes away, so no timer or file handle outlives the request.
    const gone = new AbortController();
    const abort = () => gone.abort();
    ctx.req.once('close', abort);
    ctx.res.once('close', abort);
    // Handed on when the execution runs on another node of a cluster, which reads it again.
    const authorization = ctx.get('authorization') || undefined;
    const chunks = follow
      ? await service.followLog(ctx.params.id!, ctx.params.eid!, { stream, tail, step, signal: gone.signal, stopping: deps.isStopping, authorization })
      : await service.log(ctx.params.id!, ctx.params.eid!, { stream, tail, step, authorization, signal: gone.signal });
    sendLogBody(ctx, chunks, (err) => deps.logError(err, { method: ctx.method, path: ctx.path }));
  });

  router.post('/jobs/:id/executions/:eid/cancel', async (ctx) => {
    allowQuery(ctx, []);
    const execution = await service.cancel(ctx.params.id!, ctx.params.eid!);
    ctx.status = 202;
    ctx.body = { data: { message: 'Execution cancelled successfully', execution_id: execution.id, status: execution.status } };
  });

  router.post('/jobs/:id/executions/:eid/restart', async (ctx) => {
    allowQuery(ctx, []);
    const execution = await service.restart(ctx.params.id!, ctx.params.eid!);
    ctx.status = 202;
    ctx.body = { data: { message: 'Execution restarted', execution_id: execution.id, restarted_from: ctx.params.eid } };
  });

  // Takes a body (a gate's answer): the one route here that reads one.
  router.post('/jobs/:id/executions/:eid/advance', parseBody(), async (ctx) => {
    allowQuery(ctx, []);
    // Handed on when the execution waits on another node of a cluster, which is advanced through its API.
    const execution = await service.advance(ctx.params.id!, ctx.params.eid!, ctx.request.body, ctx.get('authorization') || undefined);
    ctx.status = 202;
    ctx.body = { data: { message: 'Execution advanced', execution_id: execution.id } };
  });

  router.get('/jobs/:id/tail', async (ctx) => {
    allowQuery(ctx, ['n']);
    const n = intParam(ctx, 'n', 100, 0, MAX_TAIL);
    const { execution, text } = await service.tail(ctx.params.id!, n);
    if (execution) ctx.set('X-Execution-Id', execution.id);
    sendLogBody(ctx, text, (err) => deps.logError(err, { method: ctx.method, path: ctx.path }));
  });

  router.get('/executions', async (ctx) => {
    allowQuery(ctx, ['limit', 'offset', 'status']);
    const limit = intParam(ctx, 'limit', 10, 1, MAX_LIMIT);
    const offset = intParam(ctx, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
    const page = service.allExecutions({ limit, offset, status: enumParam(ctx, 'status', STATUSES) });
    ctx.body = { data: await service.withProgress(page.items), pagination: { total: page.total, limit, offset } };
  });
}

