/**
 * The embedded store's two documents of job definitions:
 *
 *   api-jobs.json     { jobs: Job[] }: definitions of API-made jobs, as of the last checkpoint
 *   config-jobs.json  { jobs: { <id>: {created_at, updated_at, fingerprint} } }: what the daemon
 *                     remembers of each config job's definition
 *
 * api-jobs.json is not written by a change: a create, update or delete of an API job is one line in the
 * write-ahead log (`def`, `gone`; write-ahead-log.ts), so its cost does not grow with the number of API
 * jobs. The background checkpoint rewrites the file whole, and open() replays the log over it.
 *
 * config-jobs.json changes only when the config does; it is a map in memory that changes at once
 * (callers read their change back without waiting) and is written whole, by the writes of many changes
 * coalesced into one (coalescing-writer.ts). A write that fails undoes, in memory, the changes it
 * carried: nothing of a refused change is applied, and the next good write cannot carry it to disk.
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Low, type Adapter } from 'lowdb';
import { WatchbellError } from '../jobs/errors.js';
import { isValidJobId } from '../jobs/ids.js';
import type { Job } from '../jobs/job.js';
import { CoalescingWriter } from './coalescing-writer.js';
import { writeFailed, type StoreDisk } from './store-disk.js';
import type { JobState } from './store.js';

export const API_JOBS_FILE = 'api-jobs.json';
export const CONFIG_JOBS_FILE = 'config-jobs.json';
/** API jobs turned into text per turn of the event loop when api-jobs.json is written. */
const API_TEXT_CHUNK = 1000;

/** The part of a JobState that describes a config job's definition; changes only with the config. */
export type ConfigJobMeta = Pick<JobState, 'created_at' | 'updated_at' | 'fingerprint'>;
export const META_KEYS = ['created_at', 'updated_at', 'fingerprint'] as const;

/** What a key held before the first change not yet on disk: what a failed write puts back. */
interface Before<V> {
  had: boolean;
  value: V | undefined;
}

/**
 * A map saved whole to one file. set() and delete() change it at once; write() resolves once a version
 * holding every change made before the call is on disk, or undoes the changes it carried and rejects.
 */
export class DurableMap<V> {
  private readonly map = new Map<string, V>();
  /** Keys changed since the running write (if any) began, with what each held before. */
  private changed = new Map<string, Before<V>>();
  private readonly writer: CoalescingWriter;
  private readonly db: Low<unknown>;

  constructor(
    private readonly file: string,
    disk: StoreDisk,
    toFile: (entries: Map<string, V>) => unknown,
  ) {
    const adapter: Adapter<unknown> = {
      read: () => Promise.resolve(null),
      // The format of lowdb's JSONFile, through the store's disk.
      write: (data) => disk.replaceFile(file, JSON.stringify(data, null, 2)),
    };
    this.db = new Low<unknown>(adapter, null);
    this.writer = new CoalescingWriter(async () => {
      const carried = this.changed;
      this.changed = new Map();
      this.db.data = toFile(this.map);
      try {
        await this.db.write();
      } catch (err) {
        this.undo(carried);
        throw writeFailed(basename(file), err);
      }
    });
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }

  entries(): IterableIterator<[string, V]> {
    return this.map.entries();
  }

  set(key: string, value: V): void {
    this.note(key);
    this.map.set(key, value);
  }

  delete(key: string): void {
    this.note(key);
    this.map.delete(key);
  }

  /** Sets a key as read from the file: already on disk, nothing to write. */
  load(key: string, value: V): void {
    this.map.set(key, value);
  }

  write(): Promise<void> {
    return this.writer.write();
  }

  private note(key: string): void {
    if (!this.changed.has(key)) this.changed.set(key, { had: this.map.has(key), value: this.map.get(key) });
  }

  /** Puts back what a failed write carried; a key changed again since goes back there when that write fails too. */
  private undo(carried: Map<string, Before<V>>): void {
    for (const [key, before] of carried) {
      const later = this.changed.get(key);
      if (later) this.changed.set(key, before);
      else if (before.had) this.map.set(key, before.value!);
      else this.map.delete(key);
    }
  }
}

/** The two documents in memory, and their writers. */
export class JobDocuments {
  /** API job definitions: changed by the store once their log line is written (or with its undo queued). */
  readonly apiById = new Map<string, Job>();
  readonly configMeta: DurableMap<ConfigJobMeta>;
  /** api-jobs.json was there at load (it is missing on a fresh data dir, or when it was lost). */
  apiFileFound = false;
  private readonly apiFile: string;

  constructor(
    private readonly dataDir: string,
    private readonly disk: StoreDisk,
  ) {
    this.apiFile = join(dataDir, API_JOBS_FILE);
    this.configMeta = new DurableMap<ConfigJobMeta>(join(dataDir, CONFIG_JOBS_FILE), disk, (m) => ({ jobs: Object.fromEntries(m) }));
  }

  /**
   * The API jobs memory holds now: one moment's, as the store replaces a stored definition and never
   * changes it in place.
   */
  apiSnapshot(): Job[] {
    return [...this.apiById.values()];
  }

  /**
   * api-jobs.json's text for `jobs`, one job a line, made API_TEXT_CHUNK jobs per turn of the event loop:
   * 100,000 jobs at once held it for 0.6-1.2 s on a loaded machine.
   */
  async apiFileText(jobs: readonly Job[]): Promise<string> {
    const parts: string[] = [];
    for (let i = 0; i < jobs.length; i += API_TEXT_CHUNK) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      parts.push(jobs.slice(i, i + API_TEXT_CHUNK).map((job) => JSON.stringify(job)).join(',\n'));
    }
    return `{"jobs":[\n${parts.join(',\n')}\n]}\n`;
  }

  /** Replaces api-jobs.json with `text` (a temp file renamed over it: a crash leaves one or the other). */
  async writeApiFile(text: string): Promise<void> {
    try {
      await this.disk.replaceFile(this.apiFile, text);
    } catch (err) {
      throw writeFailed(API_JOBS_FILE, err);
    }
  }

  /** Reads both documents; a missing one is empty. */
  async load(): Promise<void> {
    const apiFile = this.apiFile;
    const api = (await readObject(apiFile)) as { jobs?: unknown } | undefined;
    this.apiFileFound = api !== undefined;
    if (api !== undefined) {
      if (!Array.isArray(api.jobs)) throw corrupt(apiFile, 'expected { "jobs": [...] }');
      for (const job of api.jobs as Job[]) if (job && isValidJobId(job.id)) this.apiById.set(job.id, job);
    }
    const configFile = join(this.dataDir, CONFIG_JOBS_FILE);
    const config = (await readObject(configFile)) as { jobs?: unknown } | undefined;
    if (config !== undefined) {
      const meta = config.jobs;
      if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw corrupt(configFile, 'expected { "jobs": {...} }');
      for (const [id, m] of Object.entries(meta)) if (isValidJobId(id) && m && typeof m === 'object') this.configMeta.load(id, m as ConfigJobMeta);
    }
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

/** A file's JSON object, or undefined when the file does not exist. */
async function readObject(file: string): Promise<object | undefined> {
  const text = await readText(file);
  if (text === undefined) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw corrupt(file, (err as Error).message, err);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw corrupt(file, 'expected a JSON object');
  return data;
}
