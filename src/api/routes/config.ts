/** /api/v1/config/reload: re-read the config file (and its includes) and apply it, like SIGHUP. */
import Router from '@koa/router';
import { WatchbellError } from '../../jobs/errors.js';
import type { ApiDeps } from '../deps.js';
import { allowQuery } from '../query.js';

/** The config routes. Needs an admin token when tokens are configured (it is a POST). */
export function configRoutes(router: Router, deps: ApiDeps): void {
  router.post('/config/reload', async (ctx) => {
    allowQuery(ctx, []);
    if (!deps.reloadConfig) throw new WatchbellError('ROUTE_NOT_FOUND', 'this server has no config file to reload');
    // An invalid config rejects with CONFIG_INVALID (400, each problem as FILE:LINE:COL in details);
    // a config job taking an API job's id or name with JOB_EXISTS (409). Either way nothing changes.
    const { added, changed, removed, warnings } = await deps.reloadConfig();
    ctx.body = { data: { message: 'Config reloaded successfully', added, changed, removed, warnings } };
  });
}
