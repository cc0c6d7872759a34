/** One error class with a stable `code`; the API maps codes to HTTP statuses in one place. */

export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'INVALID_JSON'
  | 'INVALID_YAML'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'BODY_TOO_LARGE'
  | 'JOB_NOT_FOUND'
  | 'EXECUTION_NOT_FOUND'
  | 'ROUTE_NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'JOB_EXISTS'
  | 'JOB_OWNED_BY_CONFIG'
  | 'JOB_OWNED_BY_LABEL'
  | 'JOB_ALREADY_RUNNING'
  | 'JOB_COMPLETED'
  | 'NOTIFIER_IN_USE'
  | 'TOO_MANY_JOBS'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'LISTEN_REFUSED'
  | 'EXECUTION_FINISHED'
  /** advance on an execution not held at a wait step. */
  | 'EXECUTION_NOT_WAITING'
  /** restart of an execution that is running, waiting or succeeded. */
  | 'EXECUTION_NOT_RESTARTABLE'
  /** delete (or a reload removing) a job other jobs chain to (on_success / on_failure). */
  | 'JOB_CHAINED'
  | 'LOG_MISSING'
  | 'CONFIG_INVALID'
  | 'DATA_DIR_LOCKED'
  | 'STORE_UNAVAILABLE'
  /** Cluster mode: another live node has this daemon's `daemon.node` name. */
  | 'NODE_NAME_TAKEN'
  /** More connections than daemon.max_connections; answered before the request is read. */
  | 'TOO_MANY_CONNECTIONS'
  /** The container engine could not be reached, or did not answer in time. */
  | 'ENGINE_UNAVAILABLE'
  /** The container engine answered with an error: no such image or container, a failed pull, ... */
  | 'ENGINE_FAILED'
  /** Cluster mode: the node running an execution could not be reached for its live log. */
  | 'NODE_UNREACHABLE'
  /** Cluster mode: a run-now or restart of a job whose run_on no live node's node_tags match. */
  | 'NO_NODE'
  | 'INTERNAL';

/** One bad field: a JSON path such as `/jobs/backup/schedule` and what was expected there. */
export interface FieldError {
  path: string;
  message: string;
}

export class WatchbellError extends Error {
  override readonly name = 'WatchbellError';
  readonly code: ErrorCode;
  readonly details?: FieldError[];

  constructor(code: ErrorCode, message: string, options: { details?: FieldError[]; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.details) this.details = options.details;
  }
}

/** True for our own errors, which carry a message meant for the user. */
export function isWatchbellError(err: unknown): err is WatchbellError {
  return err instanceof WatchbellError;
}
