/**
 * The PostgreSQL connection pool of a store URL. `pg` is imported here only, and this module only by
 * a daemon whose `daemon.store` is a postgres:// URL (test/daemon/lazy-modules.test.ts).
 */
import type { Pool, PoolClient } from 'pg';
import { hideStorePassword, parseStoreUrl, type StoreUrl } from '../../config/store-url.js';
import { WatchbellError } from '../../jobs/errors.js';
import { GroupCommit } from './group-commit.js';
import type { Queryable } from './queryable.js';

/** Connections the store holds at most: writes of different jobs go out at once, one job's in order. */
const POOL_SIZE = 8;
/** A connection attempt fails after this long, so a database that went away answers 503 quickly. */
const CONNECT_TIMEOUT_MS = 5_000;

export interface Connection {
  readonly url: StoreUrl;
  readonly pool: Pool;
  /** Where single-statement writes go: grouped per event-loop turn into one commit (group-commit.ts). */
  readonly writes: Queryable;
  /** The schema's name quoted for SQL. */
  readonly schema: string;
  /** Runs `fn` in a transaction on one connection; rolls back and rethrows on error. */
  transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T>;
  /** A STORE_UNAVAILABLE error for a failed query, naming the store without its password; our own errors pass as they are. */
  unavailable(err: unknown, doing: string): Error;
  end(): Promise<void>;
}

export interface ConnectOptions {
  /**
   * Consulted before each statement that changes data; an error it returns fails that statement as a
   * database out of disk space would (SQLSTATE 53100). For test/store/store-fault-contract.ts.
   */
  writeFault?: () => Error | undefined;
  /** Connections at most; default 8. */
  poolSize?: number;
  /** The connections' application_name: the change feed's triggers name the writer by it (cluster/change-feed.ts). */
  applicationName?: string;
}

/** A pool for `rawUrl` (checked by config/store-url.ts); connects lazily, at the first query. */
export async function connect(rawUrl: string, options: ConnectOptions = {}): Promise<Connection> {
  const url = parseStoreUrl(rawUrl);
  const { default: pg } = await import('pg');
  // Timestamps and numbers stay as PostgreSQL prints them: the store keeps its own JSON, never column types.
  const pool = new pg.Pool({ connectionString: url.connectionString, max: options.poolSize ?? POOL_SIZE, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, idleTimeoutMillis: 30_000, application_name: options.applicationName });
  // An idle connection the server dropped (a restart) emits here; without a listener the process would crash.
  pool.on('error', () => undefined);
  const utils = (pg as unknown as { utils: { prepareValue(v: unknown): unknown } }).utils;
  const literal = (value: unknown): string => {
    if (value === null || value === undefined) return 'NULL';
    if (Buffer.isBuffer(value)) return `'\\x${value.toString('hex')}'::bytea`;
    const prepared = utils.prepareValue(value);
    return prepared === null ? 'NULL' : pg.escapeLiteral(String(prepared));
  };
  const fault = (): Error | undefined => {
    const err = options.writeFault?.();
    return err && Object.assign(new Error(`could not extend file: ${err.message}`), { severity: 'ERROR', code: '53100', cause: err });
  };
  const writes = new GroupCommit(pool, literal, fault);
  let ended: Promise<void> | undefined;
  const unavailable = (err: unknown, doing: string): Error => {
    // TypeError: a caller's mistake (an execution stored twice), not the database's.
    if (err instanceof WatchbellError || err instanceof TypeError) return err;
    const text = hideStorePassword(err instanceof Error ? err.message || String((err as NodeJS.ErrnoException).code) : String(err), rawUrl);
    return new WatchbellError('STORE_UNAVAILABLE', `the store ${url.shown} failed while ${doing}: ${text}`, { cause: err });
  };
  return {
    url,
    pool,
    writes,
    schema: `"${url.schema}"`,
    async transaction(fn) {
      const client = await pool.connect();
      let failure: Error | undefined;
      try {
        await client.query('BEGIN');
        const checked = Object.create(client, {
          query: {
            value: (text: string, values?: unknown[]) => {
              const err = fault();
              return err ? Promise.reject(err) : client.query(text, values);
            },
          },
        }) as PoolClient;
        const out = await fn(checked);
        await client.query('COMMIT');
        return out;
      } catch (err) {
        failure = err as Error;
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        // A connection that failed may be broken (the server went away): it is dropped, not reused.
        client.release(failure);
      }
    },
    unavailable,
    end() {
      ended ??= pool.end();
      return ended;
    },
  };
}

/**
 * True for a failure to reach the database (refused, reset, broken pipe, timed out, the server shutting
 * down), as opposed to an error in a statement: anything but an error the server sent (which carries a
 * `severity`), and of those, SQLSTATE classes 08 (connection) and 57 (operator intervention, e.g. a
 * shutdown). A full disk (53100) is a refusal, not an absence: the write fails at once, as on the
 * embedded store. Our own errors and a caller's mistakes (TypeError) are neither.
 */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof WatchbellError || err instanceof TypeError) return false;
  const e = err as { severity?: unknown; code?: unknown } | null;
  if (typeof e?.severity !== 'string') return true;
  return typeof e.code === 'string' && /^(08|57)/.test(e.code);
}
