/**
 * Exactly once per slot in a cluster: every node computes the same due slots, and a slot runs on the node
 * whose insert of (job id, slot) into slot_claims succeeds. The database's primary key is the referee; no
 * leader is needed. Single-host mode has no SlotClaims at all (the service fires without asking).
 */
import type { Connection } from '../store/postgres/connection.js';

/** What the job service asks before it runs a scheduled slot. */
export interface SlotClaims {
  /** True when this node won the slot and must run it; false when another node has it, or this one may take no work. */
  claim(jobId: string, slot: Date): Promise<boolean>;
}

export interface PgSlotClaimsOptions {
  node: string;
  instance: string;
  /** False once the node's lease is not held (fencing): it claims nothing. */
  holdsLease(): boolean;
}

interface Pending {
  jobId: string;
  slot: Date;
  resolve(won: boolean): void;
  reject(err: unknown): void;
}

/**
 * Claims on PostgreSQL. The claims made in one event-loop turn go out as one statement (a second with
 * 1,000 due jobs is one round trip, not 1,000). The insert also checks, in the database, that this process
 * still holds its node's lease: a node paused past it claims nothing even before it notices.
 */
export class PgSlotClaims implements SlotClaims {
  private batch: Pending[] = [];

  constructor(
    private readonly conn: Connection,
    private readonly o: PgSlotClaimsOptions,
  ) {}

  claim(jobId: string, slot: Date): Promise<boolean> {
    if (!this.o.holdsLease()) return Promise.resolve(false);
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
      const { rows } = await this.conn.pool.query<{ job_id: string; slot_ms: string }>(
        `INSERT INTO ${s}.slot_claims (job_id, slot, node)
         SELECT c.job_id, to_timestamp(c.ms / 1000.0), $3
         FROM unnest($1::text[], $2::float8[]) AS c(job_id, ms)
         WHERE EXISTS (SELECT 1 FROM ${s}.nodes n WHERE n.name = $3 AND n.instance = $4 AND n.stopped_at IS NULL
                       AND n.last_heartbeat + make_interval(secs => n.lease_seconds) >= now())
           -- A job paused on any node: no slot is won once the pause has committed, even before this node hears of it.
           AND NOT EXISTS (SELECT 1 FROM ${s}.job_states st WHERE st.job_id = c.job_id AND st.state @> '{"paused": true}')
         ON CONFLICT (job_id, slot) DO NOTHING
         RETURNING job_id, (extract(epoch FROM slot) * 1000)::bigint::text AS slot_ms`,
        [batch.map((p) => p.jobId), batch.map((p) => p.slot.getTime()), this.o.node, this.o.instance],
      );
      const won = new Set(rows.map((r) => `${r.job_id}\0${r.slot_ms}`));
      // The same slot twice in one batch (a catch-up and its timer) is won once.
      for (const p of batch) p.resolve(won.delete(`${p.jobId}\0${p.slot.getTime()}`));
    } catch (err) {
      const failure = this.conn.unavailable(err, 'claiming due slots');
      for (const p of batch) p.reject(failure);
    }
  }
}
