/** /api/v1/nodes: the nodes of a cluster (a PostgreSQL store), alive and dead. */
import Router from '@koa/router';
import { WatchbellError } from '../../jobs/errors.js';
import type { ApiDeps } from '../deps.js';
import { allowQuery } from '../query.js';

/** The cluster routes. */
export function nodeRoutes(router: Router, deps: ApiDeps): void {
  router.get('/nodes', async (ctx) => {
    allowQuery(ctx, []);
    if (!deps.nodes) throw new WatchbellError('ROUTE_NOT_FOUND', 'this daemon is not in a cluster: cluster mode needs a PostgreSQL store (daemon.store)');
    const items = await deps.nodes();
    ctx.body = { data: items };
  });
}
