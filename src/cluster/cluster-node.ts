/**
 * This daemon as a node of a cluster (a PostgreSQL store; docs/architecture.md, "Cluster mode"): it joins
 * the nodes table under its name, renews its lease with a heartbeat, and leaves on stop. Times are the
 * database's (now()), so the hosts' clocks need not agree.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { WatchbellError } from '../jobs/errors.js';
import type { Connection } from '../store/postgres/connection.js';
import type { NodeView } from './node-view.js';

export type { NodeView };

export interface NodeOptions {
  name: string;
  version: string;
  tags: Record<string, string>;
  dataDir: string;
  heartbeatMs: number;
  leaseMs: number;
  /** Executions this node runs now, recorded with each heartbeat. */
  running(): number;
  /**
   * Called once when the node no longer holds its lease (fencing: it stops taking work). `msLeft`: how long
   * until the lease the database granted runs out, by this process's clock (0 when it has); what it still
   * runs must be gone by then, since another node may take its executions over after it.
   */
  onLeaseLost(why: string, msLeft: number): void;
  /** Called when a fenced node, with nothing left running, has joined again. */
  onRejoined(): void;
  /** Work done after each renewed heartbeat (the takeover of dead nodes' executions); its failure is only reported. */
  afterBeat?(): Promise<void>;
}

/** Old claims are pruned once in this many heartbeats (a minute at the default 2 s). */
const PRUNE_EVERY = 30;

/** A node of the cluster; made by joinCluster. */
export class ClusterNode {
  readonly name: string;
  /** Random per process: a heartbeat renews only the row this process wrote. */
  readonly instance = randomBytes(8).toString('hex');
  private address = '';
  private timer: NodeJS.Timeout | undefined;
  /** Fires `lease - heartbeat` after the last renewal: a heartbeat stuck on a dead connection must not delay fencing. */
  private fence: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  /** performance.now() of the last renewal the database acknowledged. */
  private renewedAt = performance.now();
  /**
   * When the lease of that renewal ends: counted from when its statement was sent, which is no later than
   * the database's now() that stamped it, so this end is never later than the one other nodes see.
   */
  private leaseEndsAt = performance.now();
  private lost = false;
  private beats = 0;
  private stopped = false;

  constructor(
    private readonly conn: Connection,
    private readonly o: NodeOptions,
  ) {
    this.name = o.name;
  }

  /** The table and schema names quoted for SQL. */
  private get t(): string {
    return `${this.conn.schema}.nodes`;
  }

  /**
   * Takes the node's name: refused (NODE_NAME_TAKEN) while another process holds it alive, unless that
   * process ran on this host with this data dir (whose lock this daemon now holds: the other one is dead).
   */
  async join(): Promise<void> {
    const sentAt = performance.now();
    await this.take();
    this.renewed(sentAt);
    this.schedule();
  }

  /** The join's statement: takes the name, or throws NODE_NAME_TAKEN. */
  private async take(): Promise<void> {
    const { rows } = await this.conn.pool.query<{ name: string }>(
      `INSERT INTO ${this.t} AS n (name, instance, version, address, hostname, data_dir, tags, started_at, last_heartbeat, lease_seconds, running, stopped_at)
       VALUES ($1, $2, $3, '', $4, $5, $6, now(), now(), $7, 0, NULL)
       ON CONFLICT (name) DO UPDATE SET instance = EXCLUDED.instance, version = EXCLUDED.version, address = '',
         hostname = EXCLUDED.hostname, data_dir = EXCLUDED.data_dir, tags = EXCLUDED.tags, started_at = now(),
         last_heartbeat = now(), lease_seconds = EXCLUDED.lease_seconds, running = 0, stopped_at = NULL
       WHERE n.stopped_at IS NOT NULL
          OR n.last_heartbeat + make_interval(secs => n.lease_seconds) < now()
          OR (n.hostname = EXCLUDED.hostname AND n.data_dir = EXCLUDED.data_dir)
       RETURNING name`,
      [this.name, this.instance, this.o.version, hostname(), this.o.dataDir, JSON.stringify(this.o.tags), this.o.leaseMs / 1000],
    );
    if (rows.length === 0) {
      const other = await this.conn.pool.query<{ hostname: string; address: string; data_dir: string; ago: string }>(
        `SELECT hostname, address, data_dir, round(extract(epoch FROM now() - last_heartbeat)::numeric, 1)::text AS ago FROM ${this.t} WHERE name = $1`,
        [this.name],
      );
      const o = other.rows[0];
      const where = o ? ` (host ${o.hostname}${o.address ? `, ${o.address}` : ''}, data dir ${o.data_dir}, last heartbeat ${o.ago}s ago)` : '';
      throw new WatchbellError(
        'NODE_NAME_TAKEN',
        `node name ${JSON.stringify(this.name)} is held by a live node${where}; give this daemon another daemon.node, ` +
          `or stop the other one (a dead node's name is free ${this.o.leaseMs / 1000}s after its last heartbeat)`,
      );
    }
  }

  private renewed(sentAt: number): void {
    this.renewedAt = performance.now();
    this.leaseEndsAt = sentAt + this.o.leaseMs;
    clearTimeout(this.fence);
    const ms = this.o.leaseMs - this.o.heartbeatMs;
    this.fence = setTimeout(() => this.lose(`no heartbeat was renewed for ${ms / 1000}s`), ms);
  }

  /**
   * The API's address (known only once the daemon listens), recorded at once: other nodes read a running
   * execution's log through it (remote-executions.ts). A failure is left to the next heartbeat.
   */
  async setAddress(url: string): Promise<void> {
    this.address = url;
    await this.conn.pool.query(`UPDATE ${this.t} SET address = $3 WHERE name = $1 AND instance = $2`, [this.name, this.instance, url]).catch(() => undefined);
  }

  /** True while the lease is held with a margin of one heartbeat: a node past it takes no new work. */
  holdsLease(): boolean {
    return !this.lost && !this.stopped && performance.now() - this.renewedAt < this.o.leaseMs - this.o.heartbeatMs;
  }

  /** Every node the store knows, alive ones first, then by name. */
  async list(): Promise<NodeView[]> {
    const { rows } = await this.conn.pool.query<NodeView>(
      `SELECT name, version, address, tags, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS started_at,
              to_char(last_heartbeat AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_heartbeat, running,
              CASE WHEN stopped_at IS NULL AND last_heartbeat + make_interval(secs => lease_seconds) >= now() THEN 'alive' ELSE 'dead' END AS state
       FROM ${this.t} ORDER BY state, name`,
    );
    return rows;
  }

  /** Stops the heartbeat and marks the node stopped, so its name is free at once. Idempotent. */
  async leave(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.fence);
    await this.beating;
    await this.conn.pool.query(`UPDATE ${this.t} SET stopped_at = now(), running = 0 WHERE name = $1 AND instance = $2`, [this.name, this.instance]).catch(() => undefined);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.beating = this.beat().finally(() => this.schedule());
    }, this.o.heartbeatMs);
  }

  private async beat(): Promise<void> {
    if (this.lost) return this.rejoin();
    const sentAt = performance.now();
    try {
      const { rowCount } = await this.conn.pool.query(
        `UPDATE ${this.t} SET last_heartbeat = now(), running = $3, address = $4
         WHERE name = $1 AND instance = $2 AND stopped_at IS NULL AND last_heartbeat + make_interval(secs => lease_seconds) >= now()`,
        [this.name, this.instance, this.o.running(), this.address],
      );
      if (rowCount === 0) return this.lose('its lease ran out, or another process took its name');
      this.renewed(sentAt);
      await this.o.afterBeat?.();
      if (++this.beats % PRUNE_EVERY === 0) {
        await this.conn.pool.query(`DELETE FROM ${this.conn.schema}.slot_claims WHERE claimed_at < now() - interval '7 days'`);
      }
    } catch (err) {
      if (!this.holdsLease()) this.lose(`its heartbeat failed for ${Math.round((performance.now() - this.renewedAt) / 1000)}s: ${(err as Error).message}`);
    }
  }

  /**
   * A fenced node joins again once its executions have stopped (so nothing of its old lease still runs), and
   * the database answers: claims are unique in the database, so no slot it lost can run twice.
   */
  private async rejoin(): Promise<void> {
    if (this.o.running() > 0) return;
    const sentAt = performance.now();
    try {
      await this.take();
    } catch {
      return; // the database is still away, or another process took the name: tried again at the next beat
    }
    this.lost = false;
    this.renewed(sentAt);
    this.o.onRejoined();
  }

  private lose(why: string): void {
    if (this.lost || this.stopped) return;
    clearTimeout(this.fence);
    this.lost = true;
    this.o.onLeaseLost(why, Math.max(0, this.leaseEndsAt - performance.now()));
  }
}
