/**
 * Executions that run on another node, reached through it: a cancel goes by NOTIFY to the node running the
 * execution (cancel-signal.ts) and is answered, as a local cancel is, with the record of its end once the
 * change feed brings it; a log of a running execution is read from that node's API (node-proxy.ts). A
 * finished execution needs neither: its record and its log are in the database.
 */
import { FINISHED_STATUSES, type Execution } from '../jobs/execution.js';
import type { Connection } from '../store/postgres/connection.js';
import type { PgStore } from '../store/postgres/pg-store.js';
import type { ChangeApplier } from './apply-changes.js';
import { sendCancel } from './cancel-signal.js';
import { fetchFromNode } from './node-proxy.js';

/** What the job service asks of the cluster about an execution (absent on a single daemon). */
export interface ClusterExecutions {
  /** True when the execution is unfinished and runs on another node. */
  elsewhere(e: Execution): boolean;
  /** Cancels an execution running elsewhere; resolves with its final record (or, if that node does not answer in time, its record as it is). */
  cancel(e: Execution): Promise<Execution>;
  /** The log of an execution running elsewhere, from that node, followed or as it is now. */
  log(e: Execution, query: LogQuery, authorization: string | undefined, signal?: AbortSignal): Promise<AsyncIterable<Buffer>>;
  /** Advances an execution waiting at a wait step on another node, through that node's API. */
  advance(e: Execution, outputs: Record<string, string>, authorization: string | undefined): Promise<void>;
}

export interface LogQuery {
  stream?: 'stdout' | 'stderr';
  tail?: number;
  step?: string;
  follow: boolean;
}

/** The cluster's side of ClusterExecutions. */
export class RemoteExecutions implements ClusterExecutions {
  constructor(
    private readonly conn: Connection,
    private readonly node: string,
    private readonly store: PgStore,
    private readonly applier: ChangeApplier,
    /** How long a cancel waits for the other node's record of the end: its kill_grace and a margin. */
    private readonly cancelWaitMs: number,
  ) {}

  elsewhere(e: Execution): boolean {
    return !FINISHED_STATUSES.has(e.status) && e.node !== undefined && e.node !== this.node;
  }

  async cancel(e: Execution): Promise<Execution> {
    await sendCancel(this.conn, { node: e.node!, jobId: e.job_id, executionId: e.id }).catch((err: unknown) => {
      throw this.conn.unavailable(err, `sending the cancel of execution ${e.id} to node ${e.node}`);
    });
    const deadline = Date.now() + this.cancelWaitMs;
    for (;;) {
      const now = this.store.getExecution(e.job_id, e.id) ?? e;
      const left = deadline - Date.now();
      if (FINISHED_STATUSES.has(now.status) || left <= 0) return now;
      await this.applier.changed(e.id, left);
    }
  }

  async log(e: Execution, query: LogQuery, authorization: string | undefined, signal?: AbortSignal): Promise<AsyncIterable<Buffer>> {
    const params = new URLSearchParams({ follow: String(query.follow) });
    if (query.stream) params.set('stream', query.stream);
    if (query.tail !== undefined) params.set('tail', String(query.tail));
    if (query.step !== undefined) params.set('step', query.step);
    return fetchFromNode(e.node!, await this.address(e.node!), { path: `${executionPath(e)}/log?${params}`, authorization, signal });
  }

  async advance(e: Execution, outputs: Record<string, string>, authorization: string | undefined): Promise<void> {
    const answer = await fetchFromNode(e.node!, await this.address(e.node!), { path: `${executionPath(e)}/advance`, authorization, body: { outputs }, purpose: 'to advance it' });
    for await (const _ of answer); // read to its end, so the connection is let go
  }

  private async address(node: string): Promise<string> {
    const { rows } = await this.conn.pool.query<{ address: string }>(`SELECT address FROM ${this.conn.schema}.nodes WHERE name = $1`, [node]).catch((err: unknown) => {
      throw this.conn.unavailable(err, `looking up node ${node}`);
    });
    return rows[0]?.address ?? '';
  }
}

function executionPath(e: Execution): string {
  return `/api/v1/jobs/${encodeURIComponent(e.job_id)}/executions/${encodeURIComponent(e.id)}`;
}
