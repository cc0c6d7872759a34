/**
 * The embedded store's two small documents, read and written whole through lowdb; they change only
 * when an API job or the config changes:
 *
 *   api-jobs.json     { jobs: Job[] }: definitions of API-made jobs
 *   config-jobs.json  { jobs: { <id>: {created_at, updated_at, fingerprint} } }: what the daemon
 *                     remembers of each config job's definition
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import { WatchbellError } from '../jobs/errors.js';
import { isValidJobId } from '../jobs/ids.js';
import type { Job } from '../jobs/job.js';
import { CoalescingWriter } from './coalescing-writer.js';
import type { JobState } from './store.js';

export const API_JOBS_FILE = 'api-jobs.json';
export const CONFIG_JOBS_FILE = 'config-jobs.json';

/** The part of a JobState that describes a config job's definition; changes only with the config. */
export type ConfigJobMeta = Pick<JobState, 'created_at' | 'updated_at' | 'fingerprint'>;
export const META_KEYS = ['created_at', 'updated_at', 'fingerprint'] as const;

interface ApiJobsFile {
  jobs: Job[];
}

interface ConfigJobsFile {
  jobs: Record<string, ConfigJobMeta>;
}

/** The two documents in memory, and their writers. */
export class JobDocuments {
  readonly apiById = new Map<string, Job>();
  readonly configMeta = new Map<string, ConfigJobMeta>();
  private readonly api: Low<ApiJobsFile>;
  private readonly apiWriter: CoalescingWriter;
  private readonly configJobs: Low<ConfigJobsFile>;
  private readonly configWriter: CoalescingWriter;

  constructor(private readonly dataDir: string) {
    this.api = new Low<ApiJobsFile>(new JSONFile<ApiJobsFile>(join(dataDir, API_JOBS_FILE)), { jobs: [] });
    this.apiWriter = new CoalescingWriter(() => {
      this.api.data = { jobs: [...this.apiById.values()] };
      return this.api.write();
    });
    this.configJobs = new Low<ConfigJobsFile>(new JSONFile<ConfigJobsFile>(join(dataDir, CONFIG_JOBS_FILE)), { jobs: {} });
    this.configWriter = new CoalescingWriter(() => {
      this.configJobs.data = { jobs: Object.fromEntries(this.configMeta) };
      return this.configJobs.write();
    });
  }

  /** Reads both documents; a missing one is empty. */
  async load(): Promise<void> {
    const apiFile = join(this.dataDir, API_JOBS_FILE);
    await readData(this.api, apiFile);
    if (!Array.isArray(this.api.data.jobs)) throw corrupt(apiFile, 'expected { "jobs": [...] }');
    for (const job of this.api.data.jobs) if (job && isValidJobId(job.id)) this.apiById.set(job.id, job);
    const configFile = join(this.dataDir, CONFIG_JOBS_FILE);
    await readData(this.configJobs, configFile);
    const meta = this.configJobs.data.jobs;
    if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw corrupt(configFile, 'expected { "jobs": {...} }');
    for (const [id, m] of Object.entries(meta)) if (isValidJobId(id) && m && typeof m === 'object') this.configMeta.set(id, m);
  }

  /** Resolves once api-jobs.json holds every change made to apiById before the call. */
  writeApi(): Promise<void> {
    return this.apiWriter.write();
  }

  /** Resolves once config-jobs.json holds every change made to configMeta before the call. */
  writeConfig(): Promise<void> {
    return this.configWriter.write();
  }
}

/** The definition facts of a state. */
export function pickMeta(state: JobState): ConfigJobMeta {
  const meta: ConfigJobMeta = {};
  for (const key of META_KEYS) if (state[key] !== undefined) meta[key] = state[key];
  return meta;
}

/** A file's text, or undefined when it does not exist. */
export async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The error for a store file that cannot be read back, with what to do about it. */
export function corrupt(file: string, problem: string, cause?: unknown): WatchbellError {
  return new WatchbellError(
    'STORE_UNAVAILABLE',
    `cannot load ${file}: ${problem}; restore it from a backup, or move it aside to start that part of the store empty`,
    { cause },
  );
}

/**
 * Loads a file into its Low; false when the file does not exist. Read here rather than by
 * Low.read(), which cannot tell a missing file from one holding `null`.
 */
async function readData<T>(db: Low<T>, file: string): Promise<boolean> {
  const text = await readText(file);
  if (text === undefined) return false;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw corrupt(file, (err as Error).message, err);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw corrupt(file, 'expected a JSON object');
  db.data = data as T;
  return true;
}
