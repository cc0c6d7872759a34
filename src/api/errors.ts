/** The one place errors become HTTP answers: 4xx show their message, 5xx are logged and hidden. */
import type { Context, Next } from 'koa';
import { isWatchbellError, type ErrorCode } from '../jobs/errors.js';

const STATUS: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 400,
  INVALID_JSON: 400,
  INVALID_YAML: 400,
  CONFIG_INVALID: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  JOB_NOT_FOUND: 404,
  EXECUTION_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  JOB_EXISTS: 409,
  JOB_OWNED_BY_CONFIG: 409,
  JOB_OWNED_BY_LABEL: 409,
  JOB_ALREADY_RUNNING: 409,
  JOB_COMPLETED: 409,
  NOTIFIER_IN_USE: 409,
  TOO_MANY_JOBS: 409,
  EXECUTION_FINISHED: 409,
  EXECUTION_NOT_WAITING: 409,
  EXECUTION_NOT_RESTARTABLE: 409,
  JOB_CHAINED: 409,
  LOG_MISSING: 404,
  DATA_DIR_LOCKED: 409,
  NODE_NAME_TAKEN: 409,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  LISTEN_REFUSED: 500,
  STORE_UNAVAILABLE: 503,
  TOO_MANY_CONNECTIONS: 503,
  ENGINE_UNAVAILABLE: 503,
  ENGINE_FAILED: 502,
  NODE_UNREACHABLE: 502,
  NO_NODE: 409,
  INTERNAL: 500,
};

/** Details (bad fields) listed at most in one answer. */
export const MAX_DETAILS = 100;

/** The HTTP status for an error code. */
export function httpStatus(code: ErrorCode): number {
  return STATUS[code];
}

/** Middleware: any thrown error becomes `{"error": {code, message, details?}}` with its status. */
export function errorHandler(log: (err: unknown, ctx: Context) => void) {
  return async function handleErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (err) {
      if (isWatchbellError(err)) {
        const status = httpStatus(err.code);
        ctx.status = status;
        if (status >= 500) {
          log(err, ctx);
        }
        // A body with 100,000 bad fields must not get a 26 MB answer: the message already says how many there are.
        const details = err.details?.slice(0, MAX_DETAILS);
        ctx.body = { error: { code: err.code, message: err.message, ...(details ? { details } : {}) } };
      } else if (isClientHttpError(err)) {
        // Koa and its parsers throw http-errors for malformed requests (bad URL encoding, etc.).
        ctx.status = err.status;
        ctx.body = { error: { code: err.status === 413 ? 'BODY_TOO_LARGE' : 'BAD_REQUEST', message: err.message } };
      } else {
        log(err, ctx);
        ctx.status = 500;
        ctx.body = { error: { code: 'INTERNAL', message: 'internal error; the daemon log has the details' } };
      }
      // Refused before its body was read (too large, unauthorized, bad encoding): the rest of the body may never
      // be read, and the connection could not carry another request; closing it is the only clean end.
      if (!ctx.req.complete) ctx.set('Connection', 'close');
    }
  };
}

function isClientHttpError(err: unknown): err is { status: number; message: string } {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500 && (err as { expose?: boolean }).expose !== false;
}
