/**
 * Cluster mode's parts, started by the daemon when its store is PostgreSQL (loaded only then): the node's
 * membership and lease, and the slot claims the job service asks before it runs a slot.
 */
import type { Logger } from 'pino';
import type { DaemonSettings } from '../config/settings.js';
import { connect } from '../store/postgres/connection.js';
import { ClusterNode } from './cluster-node.js';
import { ConfigDrift } from './config-drift.js';
import { NodeCensus } from './node-census.js';
import { defaultNodeName } from './node-name.js';
import { PgSlotClaims } from './slot-claims.js';
import { takeOverDeadNodes } from './takeover.js';

export interface Cluster {
  node: ClusterNode;
  claims: PgSlotClaims;
  /** This node's config fingerprints and their comparison with the other live nodes'. */
  drift: ConfigDrift;
  /** Nodes alive and dead, as of the last heartbeat. */
  census: NodeCensus;
  /** Leaves the cluster (the name is free at once) and closes the connections. */
  close(): Promise<void>;
}

/** Heartbeats, leaving and claims: a pool of their own, so a busy store's writes never hold up a heartbeat. */
const POOL_SIZE = 3;

/** Joins the cluster of the store `settings.store`; rejects with NODE_NAME_TAKEN when a live node has this name. */
export async function startCluster(settings: DaemonSettings, o: { version: string; log: Logger; running(): number; stopAll(): void }): Promise<Cluster> {
  const conn = await connect(settings.store!, { poolSize: POOL_SIZE });
  const name = settings.node ?? defaultNodeName(settings.listen, settings.data_dir);
  const drift = new ConfigDrift(conn, { node: name, log: o.log });
  const census = new NodeCensus(conn);
  const node = new ClusterNode(conn, {
    name,
    version: o.version,
    tags: settings.node_tags,
    dataDir: settings.data_dir,
    heartbeatMs: settings.heartbeat * 1000,
    leaseMs: settings.lease * 1000,
    running: o.running,
    afterBeat: async () => {
      const taken = await takeOverDeadNodes(conn, name).catch((err: unknown) => {
        o.log.warn({ event: 'cluster.takeover_failed', err }, 'taking over the executions of dead nodes failed; tried again at the next heartbeat');
        return [];
      });
      for (const t of taken) o.log.warn({ event: 'cluster.takeover', job_id: t.jobId, execution_id: t.executionId, lost_node: t.node, node: name }, `marked execution ${t.executionId} of job ${t.jobId} interrupted: node ${t.node} is dead`);
      // Both only report: a failure keeps the last answer until the next heartbeat.
      await census.refresh().catch(() => undefined);
      await drift.check().catch((err: unknown) => o.log.warn({ event: 'cluster.config_drift_check_failed', err }, 'comparing config fingerprints with the other nodes failed; tried again at the next heartbeat'));
    },
    onLeaseLost: (why) => {
      // Fencing: another node may take these executions over once the lease has run out.
      o.log.error({ event: 'cluster.lease_lost', node: name, reason: why }, `node ${name} lost its lease (${why}); it stops its running executions and takes no work until it renews it`);
      o.stopAll();
    },
    onRejoined: () => o.log.warn({ event: 'cluster.rejoined', node: name }, `node ${name} renewed its lease again and takes work again`),
  });
  try {
    await node.join();
  } catch (err) {
    await conn.end().catch(() => undefined);
    throw conn.unavailable(err, `joining the cluster as node ${name}`);
  }
  o.log.info({ event: 'cluster.joined', node: name, tags: settings.node_tags, heartbeat: settings.heartbeat, lease: settings.lease }, `joined the cluster as node ${name}`);
  const claims = new PgSlotClaims(conn, { node: name, instance: node.instance, holdsLease: () => node.holdsLease() });
  await census.refresh().catch(() => undefined);
  return {
    node,
    claims,
    drift,
    census,
    async close() {
      await node.leave();
      await conn.end();
    },
  };
}
