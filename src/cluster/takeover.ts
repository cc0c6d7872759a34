/**
 * Takeover: the unfinished executions of a node whose lease ran out (or that stopped without recording
 * them) become `failure`/`interrupted`, with that node named in `error`. Any live node may do it; the rows
 * are locked (`FOR UPDATE SKIP LOCKED`) and re-checked in one transaction, so each is taken over once.
 * Executions held at a wait step hold no process and are left for their node's return.
 */
import type { Execution } from '../jobs/execution.js';
import { interruptedRecord } from '../store/recover.js';
import type { Connection } from '../store/postgres/connection.js';
import type { Queryable } from '../store/postgres/queryable.js';

/** In the `error` of every execution taken over (taken-over-orphans.ts finds them by it). */
export const TAKEN_OVER = 'took it over';

export interface TakenOver {
  jobId: string;
  executionId: string;
  node: string;
  /** Its next attempt, queued in the same transaction by `retry` (work-queue.ts), when the job had one left. */
  retry: Execution | null;
}

/**
 * Marks interrupted every queued or running execution of a node that is not alive; returns them. `retry` is
 * called in the same transaction for each, so a takeover and the retry it queues commit together.
 */
export async function takeOverDeadNodes(conn: Connection, me: string, retry?: (client: Queryable, interrupted: Execution) => Promise<Execution | null>): Promise<TakenOver[]> {
  const s = conn.schema;
  return conn.transaction(async (client) => {
    const { rows } = await client.query<{ body: Execution; node: string; ago: string }>(
      `SELECT e.body, n.name AS node, round(extract(epoch FROM now() - n.last_heartbeat)::numeric, 1)::text AS ago
       FROM ${s}.executions e JOIN ${s}.nodes n ON n.name = e.body->>'node'
       WHERE e.status IN ('queued', 'in_progress') AND n.name <> $1
         AND (n.stopped_at IS NOT NULL OR n.last_heartbeat + make_interval(secs => n.lease_seconds) < now())
       FOR UPDATE OF e SKIP LOCKED`,
      [me],
    );
    const now = new Date();
    const out: TakenOver[] = [];
    for (const { body, node, ago } of rows) {
      const fixed = interruptedRecord(body, now, `interrupted: node ${node} stopped renewing its lease (last heartbeat ${ago}s ago) while this execution ran; node ${me} ${TAKEN_OVER}`, `node ${node} was lost`);
      await client.query(`UPDATE ${s}.executions SET status = $3, body = $4 WHERE job_id = $1 AND id = $2`, [fixed.job_id, fixed.id, fixed.status, JSON.stringify(fixed)]);
      out.push({ jobId: fixed.job_id, executionId: fixed.id, node, retry: (await retry?.(client, fixed)) ?? null });
    }
    return out;
  });
}
