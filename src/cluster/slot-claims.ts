/**
 * Exactly once per slot in a cluster: every node computes the same due slots, and a slot runs on the node
 * whose insert of (job id, slot) into slot_claims succeeds. The database's primary key is the referee; no
 * leader is needed. Single-host mode has no SlotClaims at all (the service fires without asking).
 */
import type { Execution, Trigger } from '../jobs/execution.js';
import type { Job } from '../jobs/job.js';
import type { TriggerExtra } from '../run/runner.js';
import type { Connection } from '../store/postgres/connection.js';

/** A slot this node won. */
export interface ClaimedSlot {
  /** An execution of the job queued or running on another node (or in the shared queue, node null) at the claim. */
  busy: { executionId: string; node: string | null } | null;
}

/** What the job service asks before it runs a scheduled slot, how it starts one it won, and where other runs start. */
export interface SlotClaims {
  /** The slot when this node won it and must start it; null when another node has it, or this one may take no work. */
  claim(jobId: string, slot: Date): Promise<ClaimedSlot | null>;
  /** Starts a won slot: here, on another node (work-queue.ts), or skipped; resolves with its first record. */
  start(job: Job, trigger: Trigger, slot: Date, claimed: ClaimedSlot): Promise<Execution>;
  /** Starts a run-now, restart or chained run where the job's run_on allows (work-queue.ts); resolves with its first record. */
  startUnscheduled(job: Job, trigger: 'manual' | 'restart' | 'chain', extra: TriggerExtra): Promise<Execution>;
  /** Cancels an execution waiting in the cluster's shared queue; null when it is not there. */
  cancelQueued(jobId: string, executionId: string): Promise<Execution | null>;
}

export interface PgSlotClaimsOptions {
  node: string;
  instance: string;
  /** False once the node's lease is not held (fencing): it claims nothing. */
  holdsLease(): boolean;
  /** SlotClaims.start and cancelQueued (work-queue.ts). */
  queue: Pick<SlotClaims, 'start' | 'startUnscheduled' | 'cancelQueued'>;
}

interface Pending {
  jobId: string;
  slot: Date;
  resolve(won: ClaimedSlot | null): void;
  reject(err: unknown): void;
}

/**
 * Claims on PostgreSQL. The claims made in one event-loop turn go out as one statement (a second with
 * 1,000 due jobs is one round trip, not 1,000). The insert also checks, in the database, that this process
 * still holds its node's lease: a node paused past it claims nothing even before it notices. It answers, for
 * each slot won, whether another node has an execution of the job unfinished (for `forbid` across nodes).
 */
export class PgSlotClaims implements SlotClaims {
  private batch: Pending[] = [];

  constructor(
    private readonly conn: Connection,
    private readonly o: PgSlotClaimsOptions,
  ) {}

  claim(jobId: string, slot: Date): Promise<ClaimedSlot | null> {
    if (!this.o.holdsLease()) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      if (this.batch.length === 0) setImmediate(() => void this.flush());
      this.batch.push({ jobId, slot, resolve, reject });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    const s = this.conn.schema;
    try {
      const { rows } = await this.conn.pool.query<{ job_id: string; slot_ms: string; busy_id: string | null; busy_node: string | null }>(
        `WITH won AS (INSERT INTO ${s}.slot_claims (job_id, slot, node)
         SELECT c.job_id, to_timestamp(c.ms / 1000.0), $3
         FROM unnest($1::text[], $2::float8[]) AS c(job_id, ms)
         WHERE EXISTS (SELECT 1 FROM ${s}.nodes n WHERE n.name = $3 AND n.instance = $4 AND n.stopped_at IS NULL
                       AND n.last_heartbeat + make_interval(secs => n.lease_seconds) >= now())
           -- A job paused on any node: no slot is won once the pause has committed, even before this node hears of it.
           AND NOT EXISTS (SELECT 1 FROM ${s}.job_states st WHERE st.job_id = c.job_id AND st.state @> '{"paused": true}')
         ON CONFLICT (job_id, slot) DO NOTHING
         RETURNING job_id, slot)
         SELECT w.job_id, (extract(epoch FROM w.slot) * 1000)::bigint::text AS slot_ms, b.id AS busy_id, b.node AS busy_node
         FROM won w LEFT JOIN LATERAL (
           SELECT e.id, e.body->>'node' AS node FROM ${s}.executions e
           WHERE e.job_id = w.job_id AND e.status IN ('queued', 'in_progress') AND e.body->>'node' IS DISTINCT FROM $3
           ORDER BY e.id LIMIT 1) b ON true`,
        [batch.map((p) => p.jobId), batch.map((p) => p.slot.getTime()), this.o.node, this.o.instance],
      );
      const won = new Map(rows.map((r) => [`${r.job_id}\0${r.slot_ms}`, r]));
      // The same slot twice in one batch (a catch-up and its timer) is won once.
      for (const p of batch) {
        const key = `${p.jobId}\0${p.slot.getTime()}`;
        const r = won.get(key);
        won.delete(key);
        p.resolve(r ? { busy: r.busy_id === null ? null : { executionId: r.busy_id, node: r.busy_node } } : null);
      }
    } catch (err) {
      const failure = this.conn.unavailable(err, 'claiming due slots');
      for (const p of batch) p.reject(failure);
    }
  }

  start(job: Job, trigger: Trigger, slot: Date, claimed: ClaimedSlot): Promise<Execution> {
    return this.o.queue.start(job, trigger, slot, claimed);
  }

  startUnscheduled(job: Job, trigger: 'manual' | 'restart' | 'chain', extra: TriggerExtra): Promise<Execution> {
    return this.o.queue.startUnscheduled(job, trigger, extra);
  }

  cancelQueued(jobId: string, executionId: string): Promise<Execution | null> {
    return this.o.queue.cancelQueued(jobId, executionId);
  }
}
