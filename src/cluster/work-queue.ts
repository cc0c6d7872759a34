/**
 * Work spread in a cluster (docs/architecture.md, "Cluster mode"). A slot this node won starts here when the
 * job's `run_on` matches this node's tags and a `max_concurrency` slot is free (no round trip more than the
 * claim: single-node latency stays as it was). Otherwise its execution is recorded `queued` with a row in
 * run_queue, and any live node whose tags contain `run_on` takes it (`FOR UPDATE SKIP LOCKED`, up to its own
 * free slots), woken by NOTIFY, and at each heartbeat in case a notification was lost. The claim stays the
 * referee of "once per slot": only the claim's winner queues its slot, and a queue row is taken once.
 * `concurrency: forbid` holds across nodes: the claim answers whether another node has an execution of
 * the job queued or running (slot-claims.ts), and the slot is then skipped as a local overlap is.
 */
import type { Execution, Trigger } from '../jobs/execution.js';
import { WatchbellError } from '../jobs/errors.js';
import type { Events } from '../jobs/events.js';
import type { Job } from '../jobs/job.js';
import { dequeuedExecution, queuedExecution, skippedExecution } from '../run/execution-record.js';
import type { Runner, TriggerExtra } from '../run/runner.js';
import { withSteps } from '../run/steps-record.js';
import type { Connection } from '../store/postgres/connection.js';
import { PgStore } from '../store/postgres/pg-store.js';
import type { Queryable } from '../store/postgres/queryable.js';
import type { Store } from '../store/store.js';
import { sendCancel } from './cancel-signal.js';
import { NotifyListener } from './notify-listener.js';
import type { ClaimedSlot } from './slot-claims.js';

/** The channel nodes are woken on; the payload is the store's schema, so clusters in one database stay apart. */
const CHANNEL = 'watchbell_run_queue';

/** What the queue needs of the daemon, handed over once the runner and the job service exist. */
export interface WorkQueueParts {
  store: Store;
  runner: Runner;
  events: Events;
  /** The jobs this node holds (for /health's `no_node`). */
  jobs(): Iterable<Job>;
  /** One of them by id (for the retry of a taken-over execution). */
  job(id: string): Job | undefined;
}

export interface WorkQueueOptions {
  node: string;
  instance: string;
  tags: Record<string, string>;
  holdsLease(): boolean;
  /** Failures of the background work (taking, the LISTEN), which is tried again at the next heartbeat. */
  warn(event: string, err: unknown, message: string): void;
}

/** True when `tags` hold every pair of `runOn` (no run_on: any node). */
export function tagsMatch(runOn: Record<string, string> | undefined, tags: Record<string, string>): boolean {
  return Object.entries(runOn ?? {}).every(([k, v]) => tags[k] === v);
}

/** The shared queue of one node; see the file's comment. */
export class WorkQueue {
  private parts: WorkQueueParts | undefined;
  private listener: NotifyListener | undefined;
  /** Starts handed to the runner whose slot it has not counted yet. */
  private starting = 0;
  private pumping = false;
  private pumpAgain = false;
  /**
   * The queue may hold work this node could take: set by a NOTIFY, a heartbeat and a take that filled every
   * free slot; cleared by a take that found less. A freed slot looks only while it is set, so a busy node
   * does not pay a transaction per finished execution for an empty queue.
   */
  private backlog = true;
  /** The live nodes' names and tags, read at each heartbeat; null until first read. */
  private liveNodes: Array<{ name: string; tags: Record<string, string> }> | null = null;
  private closed = false;

  constructor(
    private readonly conn: Connection,
    private readonly o: WorkQueueOptions,
  ) {}

  private get s(): string {
    return this.conn.schema;
  }

  /** Connects the queue to the daemon's runner and jobs, and starts listening. */
  async attach(parts: WorkQueueParts): Promise<void> {
    this.parts = parts;
    // A slot freed here may take a queued execution.
    parts.events.on('execution:finished', () => {
      if (this.backlog) void this.pump();
    });
    this.listener = new NotifyListener({
      connectionString: this.conn.url.connectionString,
      channel: CHANNEL,
      onNotify: (schema) => {
        if (schema === this.conn.url.schema) this.wake();
      },
      onListening: () => this.wake(),
      onError: (err) => this.o.warn('cluster.listen_failed', err, 'the LISTEN for queued executions failed; connecting again (queued work is also looked for at each heartbeat)'),
    });
    await this.refreshLiveTags().catch(() => undefined);
    await this.listener.start();
  }

  /**
   * Starts a slot this node won: here, skipped (`overlap` under forbid, `no_node` when no live node matches
   * run_on), or queued for another node. Resolves with its first record.
   */
  async start(job: Job, trigger: Trigger, slot: Date, claimed: ClaimedSlot): Promise<Execution> {
    const p = this.attached();
    if (claimed.busy && job.concurrency === 'forbid') {
      const { executionId, node } = claimed.busy;
      const where = node ? `on node ${node}` : 'in the cluster queue';
      return this.skip(job, trigger, slot, 'overlap', `skipped: execution ${executionId} still ${node ? 'running' : 'queued'} ${where}`);
    }
    if (claimed.busy && job.concurrency === 'replace') await this.replace(job.id, claimed.busy);
    // A slot won just before this node was paused past its lease is not run here once it wakes (fenced):
    // it goes to the queue, for a node holding its lease (this one too, once it rejoins).
    if (tagsMatch(job.run_on, this.o.tags) && this.o.holdsLease() && p.runner.freeSlots() - this.starting > 0) {
      this.starting++;
      return p.runner.trigger(job, trigger, slot).finally(() => this.starting--);
    }
    if (!this.someLiveNodeMatches(job.run_on)) {
      return this.skip(job, trigger, slot, 'no_node', `skipped: no live node has the tags of run_on ${JSON.stringify(job.run_on ?? {})}`);
    }
    return this.queue(job, trigger, slot, {}, `queueing slot ${slot.toISOString()} of job ${job.id}`);
  }

  /**
   * Starts a run that is not a slot (run-now, restart, a chain) on a node its run_on allows: here when this
   * node's tags match and it holds its lease (in its own queue if max_concurrency is full, as on one host), else in the shared
   * queue with its environment for that run. `concurrency` holds across nodes as for slots. A run-now or
   * restart that no live node can run is refused (NO_NODE); a chained one is recorded skipped `no_node`.
   */
  async startUnscheduled(job: Job, trigger: 'manual' | 'restart' | 'chain', extra: TriggerExtra): Promise<Execution> {
    const p = this.attached();
    const busy = job.concurrency === 'allow' ? null : await this.busyElsewhere(job.id);
    if (busy && job.concurrency === 'forbid') {
      const where = busy.node ? `running on node ${busy.node}` : 'queued in the cluster queue';
      if (trigger !== 'chain') {
        throw new WatchbellError('JOB_ALREADY_RUNNING', `job ${job.id} is already ${where} (execution ${busy.executionId}) and its concurrency is "forbid"`);
      }
      return this.skip(job, trigger, null, 'overlap', `skipped: execution ${busy.executionId} still ${where}`, extra);
    }
    if (busy && job.concurrency === 'replace') await this.replace(job.id, busy);
    if (tagsMatch(job.run_on, this.o.tags) && this.o.holdsLease()) return p.runner.trigger(job, trigger, null, extra);
    // The heartbeat's view may be a beat old (a node that just joined): asked again before refusing.
    if (!this.someLiveNodeMatches(job.run_on)) await this.refreshLiveTags().catch(() => undefined);
    if (!this.someLiveNodeMatches(job.run_on)) {
      const why = `no live node has the node_tags of its run_on ${JSON.stringify(job.run_on ?? {})}`;
      if (trigger === 'chain') return this.skip(job, trigger, null, 'no_node', `skipped: ${why}`, extra);
      const live = (this.liveNodes ?? []).map((n) => `${n.name} ${JSON.stringify(n.tags)}`).join(', ') || 'none';
      throw new WatchbellError('NO_NODE', `job ${job.id} was not started: ${why} (live nodes: ${live})`);
    }
    return this.queue(job, trigger, null, extra, `queueing a ${trigger} run of job ${job.id}`);
  }

  /** Records `job`'s run `queued` with its row in the shared queue (one transaction), for a node whose tags match to take. */
  private async queue(job: Job, trigger: Trigger, slot: Date | null, extra: TriggerExtra, what: string): Promise<Execution> {
    const { environment, parameters, node: _node, ...recorded } = extra;
    const queued = withSteps(queuedExecution(job, trigger, slot, new Date()), job, parameters ? { ...recorded, parameters } : recorded);
    const overrides = { ...parameters, ...environment };
    await this.conn.transaction((client) => this.enqueue(client, queued, job, overrides)).catch((err: unknown) => {
      // STORE_UNAVAILABLE: the service logs a slot as missed, as for a run whose first record failed.
      throw this.conn.unavailable(err, what);
    });
    this.queued(queued);
    return queued;
  }

  /** An unfinished execution of the job on another node or in the shared queue, if there is one. */
  private async busyElsewhere(jobId: string): Promise<ClaimedSlot['busy']> {
    const { rows } = await this.conn.pool
      .query<{ id: string; node: string | null }>(
        `SELECT e.id, e.body->>'node' AS node FROM ${this.s}.executions e
         WHERE e.job_id = $1 AND e.status IN ('queued', 'in_progress') AND e.body->>'node' IS DISTINCT FROM $2
         ORDER BY e.id LIMIT 1`,
        [jobId, this.o.node],
      )
      .catch((err: unknown) => {
        throw this.conn.unavailable(err, `looking for a run of job ${jobId} on other nodes`);
      });
    return rows[0] ? { executionId: rows[0].id, node: rows[0].node } : null;
  }

  /**
   * `replace` across nodes: one waiting in the shared queue is cancelled there; one running on another node
   * is asked to stop through the cross-node cancel.
   */
  private async replace(jobId: string, busy: NonNullable<ClaimedSlot['busy']>): Promise<void> {
    if (busy.node === null) {
      await this.cancelQueued(jobId, busy.executionId);
      return;
    }
    // The cross-node cancel (cancel-signal.ts): that node cancels it as a local replace does. Not awaited
    // to its end: the new slot starts at once, as a local replace's does once its cancel is sent.
    await sendCancel(this.conn, { node: busy.node, jobId, executionId: busy.executionId }).catch(() => undefined);
  }

  /** Ids of active jobs whose run_on no live node matches now (for /health). */
  noNode(): string[] {
    if (!this.parts || this.liveNodes === null) return [];
    const out: string[] = [];
    for (const job of this.parts.jobs()) if (job.run_on && job.status === 'active' && !this.someLiveNodeMatches(job.run_on)) out.push(job.id);
    return out.sort();
  }

  /**
   * In a takeover's transaction: when the interrupted execution's job has attempts left, its next attempt is
   * queued (trigger `restart`, `restarted_from` the interrupted one) for a live node matching run_on.
   * Returns the queued execution, to be passed to queued() once the transaction commits.
   */
  async retryTakenOver(client: Queryable, interrupted: Execution): Promise<Execution | null> {
    const job = this.parts?.job(interrupted.job_id);
    // Steps keep their own attempts per step: a restart (POST .../restart) reruns from the failed one.
    if (!job || job.steps) return null;
    const used = interrupted.attempts.length + (interrupted.started_at === null ? 0 : 1);
    const left = job.retries + 1 - used;
    if (left <= 0 || !this.someLiveNodeMatches(job.run_on)) return null;
    const next = { ...job, retries: left - 1 };
    const scheduled = interrupted.scheduled_at === null ? null : new Date(interrupted.scheduled_at);
    const queued = withSteps(queuedExecution(next, 'restart', scheduled, new Date()), next, { restartedFrom: interrupted.id });
    await this.enqueue(client, queued, next);
    return queued;
  }

  /** After a queued execution's insert committed: into this node's memory, announced, and taken if a slot is free. */
  queued(e: Execution): void {
    const p = this.attached();
    this.adopt(e);
    p.events.emit('execution:queued', { execution: e });
    this.wake();
  }

  /** Looks for queued work now, whatever the last take found. */
  private wake(): void {
    this.backlog = true;
    void this.pump();
  }

  /**
   * At each heartbeat: the live nodes' tags again, queued executions no live node can run any more (the
   * nodes matching their run_on died or stopped) skipped `no_node`, and a look for queued work (a
   * notification may have been lost).
   */
  async beat(): Promise<void> {
    await this.refreshLiveTags();
    const stranded = await this.conn.transaction(async (client) => {
      const { rows } = await client.query<{ execution_id: string; job_id: string; run_on: Record<string, string> }>(
        `SELECT q.execution_id, q.job_id, q.run_on FROM ${this.s}.run_queue q
         WHERE NOT EXISTS (SELECT 1 FROM ${this.s}.nodes n WHERE n.tags @> q.run_on AND n.stopped_at IS NULL
                           AND n.last_heartbeat + make_interval(secs => n.lease_seconds) >= now())
         FOR UPDATE OF q SKIP LOCKED`,
      );
      const out: Execution[] = [];
      for (const r of rows) {
        const e = await this.unqueue(client, r.execution_id, r.job_id, (q, now) => ({
          ...q, status: 'skipped', reason: 'no_node', finished_at: now, error: `skipped: no live node has the tags of run_on ${JSON.stringify(r.run_on)} any more`,
        }));
        if (e) out.push(e);
      }
      return out;
    });
    for (const e of stranded) {
      this.adopt(e);
      this.parts?.events.emit('execution:skipped', { execution: e });
    }
    this.backlog = true;
    await this.pump();
  }

  /**
   * Cancels an execution waiting in the shared queue (one no node has taken yet); resolves with its final
   * record, or null when it is not in the queue (a node took it meanwhile, or it is not the queue's).
   */
  async cancelQueued(jobId: string, executionId: string): Promise<Execution | null> {
    const e = await this.conn.transaction(async (client) => {
      const { rows } = await client.query(`SELECT 1 FROM ${this.s}.run_queue WHERE execution_id = $1 FOR UPDATE`, [executionId]);
      if (rows.length === 0) return null;
      return this.unqueue(client, executionId, jobId, (q, now) => ({ ...q, status: 'cancelled', reason: 'cancelled', finished_at: now, error: 'cancelled while queued' }));
    });
    if (e) {
      this.adopt(e);
      this.parts?.events.emit('execution:finished', { execution: e });
    }
    return e;
  }

  /** Takes an execution out of the queue, its record ended by `end`; null when the record is gone or not queued. */
  private async unqueue(client: Queryable, executionId: string, jobId: string, end: (queued: Execution, now: string) => Execution): Promise<Execution | null> {
    await client.query(`DELETE FROM ${this.s}.run_queue WHERE execution_id = $1`, [executionId]);
    const { rows } = await client.query<{ body: Execution }>(`SELECT body FROM ${this.s}.executions WHERE job_id = $1 AND id = $2 AND status = 'queued'`, [jobId, executionId]);
    if (!rows[0]) return null;
    const ended = end(rows[0].body, new Date().toISOString());
    await client.query(`UPDATE ${this.s}.executions SET status = $3, body = $4 WHERE job_id = $1 AND id = $2`, [jobId, executionId, ended.status, JSON.stringify(ended)]);
    return ended;
  }

  /** Stops listening; queued executions stay for other nodes. */
  async close(): Promise<void> {
    this.closed = true;
    await this.listener?.close();
  }

  /** A row this node wrote to the queue or took from it, into its store's memory at once (the change feed brings it too). */
  private adopt(e: Execution): void {
    const store = this.parts?.store;
    if (store instanceof PgStore) store.mirror({ job: e.job_id, execution: e.id, body: e });
  }

  private attached(): WorkQueueParts {
    if (!this.parts) throw new Error('WorkQueue: attach() must be called before slots start');
    return this.parts;
  }

  private someLiveNodeMatches(runOn: Record<string, string> | undefined): boolean {
    if (!runOn) return true;
    // Not read yet: let the queue hold it (a node matching it takes it) rather than skip on no knowledge.
    if (this.liveNodes === null) return true;
    return tagsMatch(runOn, this.o.tags) || this.liveNodes.some((n) => tagsMatch(runOn, n.tags));
  }

  private async refreshLiveTags(): Promise<void> {
    const { rows } = await this.conn.pool.query<{ name: string; tags: Record<string, string> }>(
      `SELECT name, tags FROM ${this.s}.nodes WHERE stopped_at IS NULL AND last_heartbeat + make_interval(secs => lease_seconds) >= now()
       ORDER BY name`,
    );
    this.liveNodes = rows;
  }

  private async skip(job: Job, trigger: Trigger, slot: Date | null, reason: 'overlap' | 'no_node', error: string, extra: TriggerExtra = {}): Promise<Execution> {
    const p = this.attached();
    const { environment: _e, steps: _s, ...recorded } = extra;
    const execution: Execution = { ...withSteps(skippedExecution(job, trigger, slot, '', new Date()), { ...job, steps: undefined }, { ...recorded, node: this.o.node }), reason, error };
    await p.store.addExecution(execution, job.history_limit);
    p.events.emit('execution:skipped', { execution });
    return execution;
  }

  /**
   * The queued execution's row and its queue row, and the wake-up (sent at commit). The job's finished
   * executions past its history_limit go in the same transaction (as PgStore.addExecution trims), so a job
   * whose runs all pass through the queue keeps a bounded history.
   */
  private async enqueue(client: Queryable, e: Execution, job: Job, overrides: Record<string, string> = {}): Promise<void> {
    await client.query(`INSERT INTO ${this.s}.executions (job_id, id, status, body) VALUES ($1, $2, $3, $4)`, [e.job_id, e.id, e.status, JSON.stringify(e)]);
    await client.query(
      `WITH old AS (SELECT id FROM ${this.s}.executions WHERE job_id = $1 AND status IN ('success', 'failure', 'cancelled', 'skipped')
                    ORDER BY id DESC OFFSET $2),
            logs AS (DELETE FROM ${this.s}.log_chunks WHERE job_id = $1 AND execution_id IN (SELECT id FROM old))
       DELETE FROM ${this.s}.executions WHERE job_id = $1 AND id IN (SELECT id FROM old)`,
      [e.job_id, Math.max(0, job.history_limit - 1)],
    );
    await client.query(`INSERT INTO ${this.s}.run_queue (execution_id, job_id, job, run_on, overrides) VALUES ($1, $2, $3, $4, $5)`, [
      e.id, e.job_id, JSON.stringify(job), JSON.stringify(job.run_on ?? {}), JSON.stringify(overrides),
    ]);
    await client.query('SELECT pg_notify($1, $2)', [CHANNEL, this.conn.url.schema]);
  }

  /** Takes queued executions while this node has free slots; one pass at a time, again if woken meanwhile. */
  private async pump(): Promise<void> {
    if (!this.parts || this.closed) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        const free = this.parts.runner.freeSlots() - this.starting;
        if (free <= 0 || !this.o.holdsLease()) break;
        const taken = await this.take(free);
        for (const { job, execution, overrides } of taken) {
          this.adopt(execution);
          this.parts.runner.runTaken(job, execution, overrides);
        }
        if (taken.length === free) this.pumpAgain = true;
        else if (!this.pumpAgain) this.backlog = false;
      } while (this.pumpAgain && !this.closed);
    } catch (err) {
      this.o.warn('cluster.take_failed', err, 'taking queued executions failed; tried again at the next heartbeat');
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Up to `n` queued executions this node's tags match, oldest first, in one transaction: each becomes
   * `in_progress` on this node and leaves the queue. Rows locked by another node's take are skipped. Only
   * while this process holds its lease in the database (as a claim checks), so a fenced node takes nothing.
   */
  private async take(n: number): Promise<Array<{ job: Job; execution: Execution; overrides: Record<string, string> }>> {
    return this.conn.transaction(async (client) => {
      const { rows } = await client.query<{ execution_id: string; job: Job; overrides: Record<string, string>; body: Execution | null; status: string | null }>(
        `SELECT q.execution_id, q.job, q.overrides, e.body, e.status
         FROM ${this.s}.run_queue q LEFT JOIN ${this.s}.executions e ON e.job_id = q.job_id AND e.id = q.execution_id
         WHERE $1::jsonb @> q.run_on
           AND EXISTS (SELECT 1 FROM ${this.s}.nodes n WHERE n.name = $3 AND n.instance = $4 AND n.stopped_at IS NULL
                       AND n.last_heartbeat + make_interval(secs => n.lease_seconds) >= now())
         ORDER BY q.queued_at LIMIT $2
         FOR UPDATE OF q SKIP LOCKED`,
        [JSON.stringify(this.o.tags), n, this.o.node, this.o.instance],
      );
      if (rows.length === 0) return [];
      const now = new Date();
      const out: Array<{ job: Job; execution: Execution; overrides: Record<string, string> }> = [];
      for (const r of rows) {
        // Its job was deleted, or it was cancelled while queued: the row only leaves the queue.
        if (!r.body || r.status !== 'queued') continue;
        const execution: Execution = { ...dequeuedExecution(r.body, now), node: this.o.node };
        await client.query(`UPDATE ${this.s}.executions SET status = $3, body = $4 WHERE job_id = $1 AND id = $2`, [execution.job_id, execution.id, execution.status, JSON.stringify(execution)]);
        out.push({ job: r.job, execution, overrides: r.overrides });
      }
      await client.query(`DELETE FROM ${this.s}.run_queue WHERE execution_id = ANY($1)`, [rows.map((r) => r.execution_id)]);
      return out;
    });
  }
}
