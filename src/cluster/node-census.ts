/** How many nodes are alive and dead, counted at each heartbeat for /health and the metrics (which never wait on the database). */
import type { Connection } from '../store/postgres/connection.js';

export class NodeCensus {
  private counts = { alive: 0, dead: 0 };

  constructor(private readonly conn: Connection) {}

  /** Counts again; a node is alive while it holds its lease (as GET /api/v1/nodes says). */
  async refresh(): Promise<void> {
    const { rows } = await this.conn.pool.query<{ alive: number; dead: number }>(
      `SELECT count(*) FILTER (WHERE live)::int AS alive, count(*) FILTER (WHERE NOT live)::int AS dead
       FROM (SELECT stopped_at IS NULL AND last_heartbeat + make_interval(secs => lease_seconds) >= now() AS live FROM ${this.conn.schema}.nodes) n`,
    );
    if (rows[0]) this.counts = { alive: rows[0].alive, dead: rows[0].dead };
  }

  /** The counts of the last refresh. */
  status(): { alive: number; dead: number } {
    return this.counts;
  }
}
