/** /api/v1/schedule/next: preview the next run times of an expression before using it. */
import Router from '@koa/router';
import { WatchbellError } from '../../jobs/errors.js';
import { FIELD_EXPECTATIONS } from '../../jobs/job-schema.js';
import { isValidTimezone, parseSchedule, ScheduleError } from '../../jobs/schedule-spec.js';
import type { ApiDeps } from '../deps.js';
import { allowQuery, intParam, requiredParam, textParam } from '../query.js';

/** The schedule preview route. */
export function scheduleRoutes(router: Router, deps: ApiDeps): void {
  router.get('/schedule/next', (ctx) => {
    allowQuery(ctx, ['schedule', 'timezone', 'n']);
    const schedule = requiredParam(ctx, 'schedule');
    const timezone = textParam(ctx, 'timezone', 64) || deps.timezone;
    const n = intParam(ctx, 'n', 5, 1, 100);
    if (!isValidTimezone(timezone)) {
      const message = `query parameter timezone=${JSON.stringify(timezone)} is not a known time zone; expected ${FIELD_EXPECTATIONS.timezone}`;
      throw new WatchbellError('VALIDATION_FAILED', message, { details: [{ path: '/query/timezone', message }] });
    }
    try {
      parseSchedule(schedule, timezone);
    } catch (err) {
      if (!(err instanceof ScheduleError)) throw err;
      const message = `query parameter schedule: ${err.message}`;
      throw new WatchbellError('VALIDATION_FAILED', message, { details: [{ path: '/query/schedule', message }] });
    }
    const runs = deps.previewSchedule(schedule, timezone, n).map((d) => d.toISOString());
    ctx.body = { data: { schedule, timezone, next_runs: runs } };
  });
}
