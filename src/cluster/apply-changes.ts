/**
 * What the change feed hears, applied to this node: the changed rows are fetched (one query per table per
 * batch), put into the store's memory (PgStore.mirror), and the job service reschedules, unschedules or
 * forgets the jobs whose definition or state changed. Executions are only recorded: events, chains and
 * notifications belong to the node that ran them.
 */
import type { Execution } from '../jobs/execution.js';
import type { Job } from '../jobs/job.js';
import { newExecutionId } from '../jobs/ids.js';
import type { Connection } from '../store/postgres/connection.js';
import type { PgStore } from '../store/postgres/pg-store.js';
import type { JobState } from '../store/store.js';
import type { Change } from './change-feed.js';

/** The job service's side: a job's stored definition or state changed under it. */
export interface JobSync {
  /** `definition`: the stored API job definition changed (undefined in it: deleted); absent: only its state. */
  syncJob(id: string, definition?: { stored: Job | undefined }): void;
}

/** Executions created this long before the feed last heard everything are read again at a resync (hosts' clocks differ a little). */
const RESYNC_MARGIN_MS = 60_000;

/** Applies other nodes' changes to one node's store and job service. */
export class ChangeApplier {
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(
    private readonly conn: Connection,
    private readonly store: PgStore,
    private readonly service: () => JobSync | undefined,
  ) {}

  /**
   * Fetches the rows of a batch of changes and applies them. Returns the changes to fetch again: those of
   * jobs this node itself changed while their rows were read (the row read may be older than its write).
   */
  async apply(changes: Change[]): Promise<Change[]> {
    const jobIds = [...new Set(changes.filter((c) => c.kind === 'job').map((c) => c.job))];
    const stateIds = [...new Set(changes.filter((c) => c.kind !== 'exec').map((c) => c.job))];
    const before = new Map(stateIds.map((id) => [id, this.version(id)]));
    const execs = changes.filter((c): c is Extract<Change, { kind: 'exec' }> => c.kind === 'exec');
    const s = this.conn.schema;
    const q = this.conn.pool;
    const [defs, states, bodies] = await Promise.all([
      jobIds.length ? q.query<{ id: string; definition: Job }>(`SELECT id, definition FROM ${s}.api_jobs WHERE id = ANY($1)`, [jobIds]) : undefined,
      stateIds.length ? q.query<{ job_id: string; state: JobState }>(`SELECT job_id, state FROM ${s}.job_states WHERE job_id = ANY($1)`, [stateIds]) : undefined,
      execs.length
        ? q.query<{ body: Execution }>(
          `SELECT e.body FROM ${s}.executions e JOIN unnest($1::text[], $2::text[]) AS c(job_id, id) ON e.job_id = c.job_id AND e.id = c.id`,
          [execs.map((c) => c.job), execs.map((c) => c.execution)],
        )
        : undefined,
    ]);
    const again = stateIds.filter((id) => this.version(id) !== before.get(id));
    const skip = new Set(again);
    const stateOf = new Map(states?.rows.map((r) => [r.job_id, r.state]));
    for (const id of stateIds) if (!skip.has(id)) this.store.mirror({ job: id, state: stateOf.get(id) });
    const defOf = new Map(defs?.rows.map((r) => [r.id, r.definition]));
    for (const id of jobIds) if (!skip.has(id)) this.store.mirror({ job: id, definition: defOf.get(id) });
    const found = new Map(bodies?.rows.map((r) => [`${r.body.job_id}\0${r.body.id}`, r.body]));
    for (const c of execs) this.store.mirror({ job: c.job, execution: c.execution, body: found.get(`${c.job}\0${c.execution}`) });
    const service = this.service();
    const defined = new Set(jobIds);
    for (const id of stateIds) if (!skip.has(id)) service?.syncJob(id, defined.has(id) ? { stored: defOf.get(id) } : undefined);
    for (const c of execs) this.wake(c.execution);
    return changes.filter((c) => c.kind !== 'exec' && skip.has(c.job));
  }

  /** This node's memory of a job's definition and state, to tell whether it changed while rows were read. */
  private version(id: string): string {
    return `${this.store.apiJobVersion(id)}\0${JSON.stringify(this.store.jobState(id))}`;
  }

  /**
   * After a (re)connect: every API job and state, and the executions that are unfinished (in the database or
   * in memory) or were created since `sinceMs`, read again and applied where they differ. Returns the jobs to
   * fetch again: those this node itself changed while the rows were read.
   */
  async resync(sinceMs: number): Promise<Change[]> {
    const s = this.conn.schema;
    const q = this.conn.pool;
    const unfinished = this.store.unfinishedExecutions();
    const cutoff = newExecutionId(sinceMs - RESYNC_MARGIN_MS).slice(0, 'exec-'.length + 10);
    // Every change of a definition sets its updated_at (jsonb reorders keys, so the whole text cannot be compared).
    const stored = new Map(this.store.apiJobs().map((j) => [j.id, j.updated_at]));
    const before = new Map([...stored.keys(), ...this.store.stateJobIds()].map((id) => [id, this.version(id)]));
    const [defs, states, bodies] = await Promise.all([
      q.query<{ id: string; definition: Job }>(`SELECT id, definition FROM ${s}.api_jobs`),
      q.query<{ job_id: string; state: JobState }>(`SELECT job_id, state FROM ${s}.job_states`),
      q.query<{ body: Execution }>(
        `SELECT body FROM ${s}.executions WHERE status IN ('queued', 'in_progress', 'waiting') OR id >= $1
           OR (job_id, id) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
        [cutoff, unfinished.map((e) => e.job_id), unfinished.map((e) => e.id)],
      ),
    ]);
    const nothing = this.version('');
    const ids = new Set([...before.keys(), ...defs.rows.map((r) => r.id), ...states.rows.map((r) => r.job_id)]);
    const again = new Set([...ids].filter((id) => this.version(id) !== (before.get(id) ?? nothing)));
    const changed = new Map<string, { stored: Job | undefined } | undefined>();
    for (const r of defs.rows) {
      if (!again.has(r.id) && stored.get(r.id) !== r.definition.updated_at) {
        this.store.mirror({ job: r.id, definition: r.definition });
        changed.set(r.id, { stored: r.definition });
      }
      stored.delete(r.id);
    }
    for (const id of stored.keys()) {
      if (again.has(id)) continue;
      this.store.mirror({ job: id, definition: undefined });
      changed.set(id, { stored: undefined });
    }
    for (const r of states.rows) {
      if (again.has(r.job_id)) continue;
      this.store.mirror({ job: r.job_id, state: r.state });
      if (!changed.has(r.job_id)) changed.set(r.job_id, undefined);
    }
    const seen = new Set<string>();
    for (const r of bodies.rows) {
      seen.add(r.body.id);
      const held = this.store.getExecution(r.body.job_id, r.body.id);
      if (!held || JSON.stringify(held) !== JSON.stringify(r.body)) this.store.mirror({ job: r.body.job_id, execution: r.body.id, body: r.body });
    }
    for (const e of unfinished) if (!seen.has(e.id)) this.store.mirror({ job: e.job_id, execution: e.id, body: undefined });
    const service = this.service();
    for (const [id, definition] of changed) service?.syncJob(id, definition);
    for (const id of [...this.waiters.keys()]) this.wake(id);
    return [...again].map((job) => ({ kind: 'job', job }));
  }

  /** Resolves once a change of the execution has been applied, or after `ms`. */
  changed(executionId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiters.get(executionId) ?? new Set();
      this.waiters.set(executionId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(executionId) === set) this.waiters.delete(executionId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  private wake(executionId: string): void {
    for (const done of [...(this.waiters.get(executionId) ?? [])]) done();
  }
}
