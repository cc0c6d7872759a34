/** How API job definitions and per-job state are kept in PostgreSQL (tables api_jobs, job_states). */
import type { Job } from '../../jobs/job.js';
import type { JobState } from '../store.js';
import type { Queryable } from './queryable.js';

/** Every API job's definition. */
export async function loadApiJobs(db: Queryable, schema: string): Promise<Job[]> {
  const { rows } = await db.query<{ definition: Job }>(`SELECT definition FROM ${schema}.api_jobs`);
  return rows.map((r) => r.definition);
}

export async function upsertApiJob(db: Queryable, schema: string, job: Job): Promise<void> {
  await db.query(
    `INSERT INTO ${schema}.api_jobs (id, definition) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET definition = EXCLUDED.definition`,
    [job.id, JSON.stringify(job)],
  );
}

/** Every job's state, by job id. */
export async function loadJobStates(db: Queryable, schema: string): Promise<Map<string, JobState>> {
  const { rows } = await db.query<{ job_id: string; state: JobState }>(`SELECT job_id, state FROM ${schema}.job_states`);
  return new Map(rows.map((r) => [r.job_id, r.state]));
}

/**
 * Merges a patch into a job's state in the database: in a cluster another node may have changed other keys
 * (a pause on node A while node B records a run's last_slot), and a whole state from memory would undo them.
 */
export async function upsertJobState(db: Queryable, schema: string, jobId: string, patch: JobState): Promise<void> {
  await db.query(
    `INSERT INTO ${schema}.job_states AS s (job_id, state) VALUES ($1, $2) ON CONFLICT (job_id) DO UPDATE SET state = s.state || EXCLUDED.state`,
    [jobId, JSON.stringify(patch)],
  );
}

/** Removes everything of a job: definition, state, executions, logs (run inside one transaction). */
export async function deleteJobRows(db: Queryable, schema: string, jobId: string): Promise<void> {
  for (const table of ['api_jobs', 'job_states', 'executions', 'log_chunks']) {
    const column = table === 'api_jobs' ? 'id' : 'job_id';
    await db.query(`DELETE FROM ${schema}.${table} WHERE ${column} = $1`, [jobId]);
  }
}
