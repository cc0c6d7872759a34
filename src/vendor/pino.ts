/** pino, as the daemon imports it: bundled into one file by the build (src/vendor/koa.ts says why). */
export { pino } from 'pino';
