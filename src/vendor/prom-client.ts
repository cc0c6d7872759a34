/**
 * prom-client, as the daemon imports it: bundled into one file by the build (src/vendor/koa.ts says why). Its
 * own ~20 files and @opentelemetry/api's ~60 (required by its process CPU counter) were ~40 ms of the start.
 */
export { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
