/**
 * Cluster mode's parts, started by the daemon when its store is PostgreSQL (loaded only then): the node's
 * membership and lease, the slot claims the job service asks before it runs a slot, the shared queue
 * (work-queue.ts) that spreads won slots over the nodes, and the change feed through which it hears other
 * nodes' writes and cancels (and reaches executions they run).
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
import { WorkQueue, type WorkQueueParts } from './work-queue.js';
import { PgStore } from '../store/postgres/pg-store.js';
import type { Store } from '../store/store.js';
import { ChangeApplier, type JobSync } from './apply-changes.js';
import { ChangeFeed } from './change-feed.js';
import { RemoteExecutions, type ClusterExecutions } from './remote-executions.js';
import { takeCancels, type CancelSignal } from './cancel-signal.js';

/** Seconds a cancel of another node's execution waits for its end beyond that node's kill_grace. */
const CANCEL_MARGIN_S = 5;

export interface Cluster {
  node: ClusterNode;
  claims: PgSlotClaims;
  /** Hands the runner and the jobs to the shared queue (work-queue.ts); called before the job service starts. */
  attach(parts: WorkQueueParts): Promise<void>;
  /** Active jobs whose run_on no live node matches (/health's `cluster.no_node`). */
  noNode(): string[];
  /** This node's config fingerprints and their comparison with the other live nodes'. */
  drift: ConfigDrift;
  /** Nodes alive and dead, as of the last heartbeat. */
  census: NodeCensus;
  /** Cancels and logs of executions running on other nodes, for the job service (made once, before it). */
  remote(store: Store): ClusterExecutions;
  /** Starts hearing other nodes' changes and cancels (change-feed.ts); once the job service has started. */
  follow(o: { service: JobSync; cancel(jobId: string, executionId: string): Promise<unknown> }): Promise<void>;
  /** Leaves the cluster (the name is free at once) and closes the connections. */
  close(): Promise<void>;
}

/** Heartbeats, leaving, claims and the change feed's reads: a pool of their own, so a busy store's writes never hold up a heartbeat. */
const POOL_SIZE = 4;

/** Joins the cluster of the store `settings.store`; rejects with NODE_NAME_TAKEN when a live node has this name. */
export async function startCluster(settings: DaemonSettings, o: { version: string; log: Logger; running(): number; stopAll(): void; killAll(): number }): Promise<Cluster> {
  const conn = await connect(settings.store!, { poolSize: POOL_SIZE });
  const name = settings.node ?? defaultNodeName(settings.listen, settings.data_dir);
  const drift = new ConfigDrift(conn, { node: name, log: o.log });
  const census = new NodeCensus(conn);
  let reporting: Promise<void> | undefined;
  // Both only report: a failure keeps the last answer until the next heartbeat.
  const report = async () => {
    await census.refresh().catch(() => undefined);
    await drift.check().catch((err: unknown) => o.log.warn({ event: 'cluster.config_drift_check_failed', err }, 'comparing config fingerprints with the other nodes failed; tried again at the next heartbeat'));
  };
  let queue: WorkQueue | undefined;
  let leaseEnd: NodeJS.Timeout | undefined;
  const node: ClusterNode = new ClusterNode(conn, {
    name,
    version: o.version,
    tags: settings.node_tags,
    dataDir: settings.data_dir,
    heartbeatMs: settings.heartbeat * 1000,
    leaseMs: settings.lease * 1000,
    running: o.running,
    afterBeat: async () => {
      const taken = await takeOverDeadNodes(conn, name, (client, e) => queue!.retryTakenOver(client, e)).catch((err: unknown) => {
        o.log.warn({ event: 'cluster.takeover_failed', err }, 'taking over the executions of dead nodes failed; tried again at the next heartbeat');
        return [];
      });
      for (const t of taken) {
        o.log.warn({ event: 'cluster.takeover', job_id: t.jobId, execution_id: t.executionId, lost_node: t.node, node: name }, `marked execution ${t.executionId} of job ${t.jobId} interrupted: node ${t.node} is dead`);
        if (!t.retry) continue;
        o.log.info({ event: 'cluster.retry_queued', job_id: t.jobId, execution_id: t.retry.id, restarted_from: t.executionId }, `queued execution ${t.retry.id} of job ${t.jobId}, the next attempt of the interrupted ${t.executionId}`);
        queue!.queued(t.retry);
      }
      await queue!.beat().catch((err: unknown) => o.log.warn({ event: 'cluster.take_failed', err }, 'looking for queued executions failed; tried again at the next heartbeat'));
      // A cancel whose NOTIFY this node missed (its LISTEN was down) is still in the table.
      await hearCancels?.();
      // Not awaited: reports must never delay the next heartbeat (and so the lease). One at a time.
      reporting ??= report().finally(() => (reporting = undefined));
    },
    onLeaseLost: (why, msLeft) => {
      // Fencing: another node may take these executions over once the lease has run out. They get SIGTERM and
      // kill_grace, but no more than the lease has left: what still runs at its end is SIGKILLed.
      o.log.error({ event: 'cluster.lease_lost', node: name, reason: why, lease_left_ms: Math.round(msLeft) }, `node ${name} lost its lease (${why}); it stops its running executions and takes no work until it renews it`);
      o.stopAll();
      clearTimeout(leaseEnd);
      leaseEnd = setTimeout(() => {
        if (node.holdsLease()) return;
        const killed = o.killAll();
        if (killed > 0) o.log.warn({ event: 'cluster.lease_end_kill', node: name, groups: killed }, `the lease of node ${name} ended with ${killed} process group(s) still running: SIGKILLed`);
      }, msLeft);
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
  const holdsLease = () => node.holdsLease();
  queue = new WorkQueue(conn, {
    node: name, instance: node.instance, tags: settings.node_tags, holdsLease,
    warn: (event, err, message) => o.log.warn({ event, err }, message),
  });
  const q = queue;
  const claims = new PgSlotClaims(conn, { node: name, instance: node.instance, holdsLease, queue: q });
  let service: JobSync | undefined;
  let applier: ChangeApplier | undefined;
  let pgStore: PgStore | undefined;
  let feed: ChangeFeed | undefined;
  /** Reads and acts on the cancels meant for this node (set once the job service follows the cluster). */
  let hearCancels: ((notified?: CancelSignal) => Promise<void>) | undefined;
  await census.refresh().catch(() => undefined);
  return {
    node,
    claims,
    drift,
    census,
    attach: (parts) => q.attach(parts),
    noNode: () => q.noNode(),
    remote(store) {
      if (!(store instanceof PgStore)) throw new TypeError('cluster mode needs the PostgreSQL store');
      pgStore = store;
      applier = new ChangeApplier(conn, store, () => service);
      // A cancel is answered once the other node recorded the end: after its kill_grace at most, and a margin.
      return new RemoteExecutions(conn, name, store, applier, (settings.kill_grace + CANCEL_MARGIN_S) * 1000);
    },
    async follow(f) {
      service = f.service;
      const act = (signal: CancelSignal) => {
        o.log.info({ event: 'cluster.cancel_received', node: name, job_id: signal.jobId, execution_id: signal.executionId }, `another node asked to cancel execution ${signal.executionId}`);
        f.cancel(signal.jobId, signal.executionId).catch(() => undefined); // already ended, or not run here: nothing to do
      };
      hearCancels = async (notified) => {
        const kept = await takeCancels(conn, name).catch((err: unknown) => {
          o.log.warn({ event: 'cluster.cancel_read_failed', err }, 'reading the cancels sent to this node failed; tried again at the next heartbeat');
          return [];
        });
        for (const signal of kept) act(signal);
        // A node of the previous version only notifies: its cancel is in no row.
        if (notified && !kept.some((k) => k.executionId === notified.executionId)) act(notified);
      };
      feed = new ChangeFeed(conn.url, pgStore!.origin, name, {
        apply: (changes) => applier!.apply(changes),
        resync: (since) => applier!.resync(since),
        cancel: (signal) => void hearCancels!(signal),
        log: o.log,
      }, performance.timeOrigin);
      await feed.start();
    },
    async close() {
      clearTimeout(leaseEnd);
      await q.close();
      await feed?.close();
      await node.leave();
      await reporting;
      await conn.end();
    },
  };
}
