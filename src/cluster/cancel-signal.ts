/**
 * A cancel across the cluster: one node asks the node running an execution to cancel it. The request is a
 * row in cancel_requests (migration 0007) and a NOTIFY on the schema's cancel channel, sent in one statement:
 * the running node hears the NOTIFY within milliseconds, and reads the rows naming it at each heartbeat too,
 * so a cancel sent while its LISTEN was down is not lost. It cancels as a local cancel does, and its record of
 * the end reaches every node through the change feed.
 */
import type { Connection } from '../store/postgres/connection.js';
import { cancelChannel } from './channels.js';

/** What a cancel signal carries: the node that must act, and the execution. */
export interface CancelSignal {
  node: string;
  jobId: string;
  executionId: string;
}

/** A request whose node has not read it for this long is dropped (that node never came back). */
const STALE_AFTER = '1 day';

/** Sends a cancel to `signal.node`: kept until that node reads it, and announced at once to a node that listens. */
export async function sendCancel(conn: Connection, signal: CancelSignal): Promise<void> {
  await conn.pool.query(
    `WITH kept AS (INSERT INTO ${conn.schema}.cancel_requests (execution_id, job_id, node) VALUES ($3, $4, $5)
                   ON CONFLICT (execution_id) DO UPDATE SET node = excluded.node, requested_at = now())
     SELECT pg_notify($1, $2)`,
    [cancelChannel(conn.url.schema), JSON.stringify({ n: signal.node, j: signal.jobId, e: signal.executionId }), signal.executionId, signal.jobId, signal.node],
  );
}

/** Takes (deletes and returns) the cancels waiting for `node`, and drops stale ones of nodes gone for good. */
export async function takeCancels(conn: Connection, node: string): Promise<CancelSignal[]> {
  const { rows } = await conn.pool.query<{ job_id: string; execution_id: string }>(
    `WITH stale AS (DELETE FROM ${conn.schema}.cancel_requests WHERE requested_at < now() - interval '${STALE_AFTER}')
     DELETE FROM ${conn.schema}.cancel_requests WHERE node = $1 RETURNING job_id, execution_id`,
    [node],
  );
  return rows.map((r) => ({ node, jobId: r.job_id, executionId: r.execution_id }));
}

/** The signal in a cancel notification's payload, or undefined when it is not one. */
export function parseCancel(payload: string): CancelSignal | undefined {
  try {
    const p = JSON.parse(payload) as { n?: unknown; j?: unknown; e?: unknown };
    if (typeof p.n === 'string' && typeof p.j === 'string' && typeof p.e === 'string') return { node: p.n, jobId: p.j, executionId: p.e };
  } catch {
    // not ours
  }
  return undefined;
}
