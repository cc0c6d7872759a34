/** /api/v1/nodes: the nodes of a cluster (a PostgreSQL store), alive and dead. */
import Router from '@koa/router';
import type { ApiDeps } from '../deps.js';
import { allowQuery } from '../query.js';

/** The cluster routes. */
export function nodeRoutes(router: Router, deps: ApiDeps): void {
  router.get('/nodes', async (ctx) => {
    allowQuery(ctx, []);
    // The embedded store makes no cluster: no nodes.
    ctx.body = { data: deps.nodes ? await deps.nodes() : [] };
  });
}
