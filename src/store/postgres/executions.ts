/**
 * How an execution is recorded in PostgreSQL (table executions): one row per execution, its body the
 * whole execution as JSON, job_id and status beside it for trimming, deleting and the unfinished at start.
 */
import type { Execution } from '../../jobs/execution.js';
import type { Queryable } from './queryable.js';

/** Every execution, oldest first within each job. */
export async function loadExecutions(db: Queryable, schema: string): Promise<Execution[]> {
  // json, not jsonb, is returned as the text it was given: no reordering of keys, and parsing is the client's.
  const { rows } = await db.query<{ body: Execution }>(`SELECT body FROM ${schema}.executions ORDER BY job_id, id`);
  return rows.map((r) => r.body);
}

/**
 * Inserts an execution and deletes the trimmed ones (and their log chunks) in one statement, so the
 * history is never briefly longer or shorter than acknowledged.
 */
export async function insertExecution(db: Queryable, schema: string, e: Execution, json: string, trimmed: readonly string[]): Promise<void> {
  if (trimmed.length === 0) {
    await db.query(`INSERT INTO ${schema}.executions (job_id, id, status, body) VALUES ($1, $2, $3, $4)`, [e.job_id, e.id, e.status, json]);
    return;
  }
  await db.query(
    `WITH added AS (INSERT INTO ${schema}.executions (job_id, id, status, body) VALUES ($1, $2, $3, $4)),
          logs AS (DELETE FROM ${schema}.log_chunks WHERE job_id = $1 AND execution_id = ANY($5))
     DELETE FROM ${schema}.executions WHERE job_id = $1 AND id = ANY($5)`,
    [e.job_id, e.id, e.status, json, trimmed],
  );
}

/**
 * Replaces an execution's row unless it has finished: a finished execution never changes again, and in a
 * cluster the late end of a node that lost its lease must not overwrite the takeover another node recorded.
 */
export async function updateExecutionRow(db: Queryable, schema: string, e: Execution, json: string): Promise<void> {
  await db.query(
    `UPDATE ${schema}.executions SET status = $3, body = $4 WHERE job_id = $1 AND id = $2 AND status NOT IN ('success', 'failure', 'cancelled', 'skipped')`,
    [e.job_id, e.id, e.status, json],
  );
}
