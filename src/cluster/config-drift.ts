/**
 * Config drift: every node loads its own YAML, so two nodes may define a config job differently (a host
 * not yet pulled from git). Each node publishes the fingerprint of each config job's definition, and after
 * each heartbeat compares them with the other live nodes'. Drift is reported (/health `config.drift`, the
 * `watchbell_config_drift_jobs` metric, a `cluster.config_drift` log line), never resolved: the slot is
 * still claimed once, by whichever node wins it, and runs as that node defines it.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Connection } from '../store/postgres/connection.js';

/** A config job whose definition differs between this node and `nodes` (or that only one side has). */
export interface DriftedJob {
  job_id: string;
  /** The live nodes whose definition differs from this node's, or who lack the job, or who have one this node lacks. */
  nodes: string[];
}

/** Drifted jobs listed in /health and the log line at most; the metric counts them all. */
const SHOWN = 50;

/** Publishes this node's fingerprints and keeps the last comparison. */
export class ConfigDrift {
  private published: string | undefined;
  private drifted: DriftedJob[] = [];
  private count = 0;

  constructor(
    private readonly conn: Connection,
    private readonly o: { node: string; log: Logger },
  ) {}

  /** Replaces this node's fingerprints (at start and after each reload), then compares at once. */
  async publish(jobs: ReadonlyArray<{ id: string; fingerprint: string }>): Promise<void> {
    const s = this.conn.schema;
    const sorted = [...jobs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const digest = createHash('sha256').update(JSON.stringify(sorted.map((j) => [j.id, j.fingerprint]))).digest('hex').slice(0, 16);
    await this.conn.transaction(async (client) => {
      await client.query(`DELETE FROM ${s}.config_fingerprints WHERE node = $1`, [this.o.node]);
      await client.query(
        `INSERT INTO ${s}.config_fingerprints (node, job_id, fingerprint) SELECT $1, j.id, j.fp FROM unnest($2::text[], $3::text[]) AS j(id, fp)`,
        [this.o.node, sorted.map((j) => j.id), sorted.map((j) => j.fingerprint)],
      );
      await client.query(`UPDATE ${s}.nodes SET config_digest = $2 WHERE name = $1`, [this.o.node, digest]);
    });
    this.published = digest;
    await this.check();
  }

  /** Compares with the other live nodes that published (after each heartbeat); logs when the drift changes. */
  async check(): Promise<void> {
    if (this.published === undefined) return;
    const s = this.conn.schema;
    const live = `n.stopped_at IS NULL AND n.last_heartbeat + make_interval(secs => n.lease_seconds) >= now()`;
    // The cheap question first: with every live node's digest equal to ours, there is nothing to compare.
    const { rows: others } = await this.conn.pool.query<{ name: string }>(
      `SELECT n.name FROM ${s}.nodes n WHERE ${live} AND n.name <> $1 AND n.config_digest IS NOT NULL AND n.config_digest <> $2`,
      [this.o.node, this.published],
    );
    let drifted: DriftedJob[] = [];
    let count = 0;
    if (others.length > 0) {
      const { rows } = await this.conn.pool.query<{ job_id: string; nodes: string[]; total: string }>(
        `WITH mine AS (SELECT job_id, fingerprint FROM ${s}.config_fingerprints WHERE node = $1),
              theirs AS (SELECT node, job_id, fingerprint FROM ${s}.config_fingerprints WHERE node = ANY($2::text[])),
              pairs AS (
                SELECT o.node, m.job_id FROM unnest($2::text[]) AS o(node) CROSS JOIN mine m
                  LEFT JOIN theirs t ON t.node = o.node AND t.job_id = m.job_id
                  WHERE t.fingerprint IS DISTINCT FROM m.fingerprint
                UNION
                SELECT t.node, t.job_id FROM theirs t LEFT JOIN mine m ON m.job_id = t.job_id WHERE m.job_id IS NULL)
         SELECT job_id, array_agg(node ORDER BY node) AS nodes, count(*) OVER () AS total
         FROM pairs GROUP BY job_id ORDER BY job_id LIMIT ${SHOWN}`,
        [this.o.node, others.map((r) => r.name)],
      );
      drifted = rows.map((r) => ({ job_id: r.job_id, nodes: r.nodes }));
      count = Number(rows[0]?.total ?? 0);
    }
    this.report(drifted, count);
  }

  /** The drifted jobs as of the last comparison (at most 50), and how many there are in all. */
  status(): { jobs: DriftedJob[]; count: number } {
    return { jobs: this.drifted, count: this.count };
  }

  private report(drifted: DriftedJob[], count: number): void {
    const before = JSON.stringify(this.drifted);
    this.drifted = drifted;
    this.count = count;
    if (JSON.stringify(drifted) === before) return;
    if (count === 0) {
      this.o.log.info({ event: 'cluster.config_drift_resolved', node: this.o.node }, 'config jobs are defined the same on every live node again');
      return;
    }
    const shown = drifted.slice(0, 5).map((d) => `${d.job_id} (${d.nodes.join(', ')})`).join('; ');
    this.o.log.warn(
      { event: 'cluster.config_drift', node: this.o.node, count, jobs: drifted },
      `${count} config job(s) defined differently here than on other live nodes: ${shown}${count > 5 ? '; ...' : ''}; ` +
        'each slot still runs once, as the node that claims it defines it; deploy the same config to every node',
    );
  }
}
