/**
 * Recovery at open: how the embedded store rebuilds its memory from the data dir. Every job's
 * journal (or its file of the earlier whole-file format) is read, the write-ahead log's segments are
 * replayed over them (what a crash or a stop before the last checkpoint left there), journals that
 * were torn, too long or behind the log are rewritten, and the log starts a fresh segment.
 *
 * Nothing is deleted that the store cannot tell it deleted itself: a log no stored execution names (a
 * crash between a trim and its unlink, but also a journal or a log segment moved aside by hand) and a
 * job dir without a journal are moved to DATA/lost+found/, and listed for the daemon to log. A missing
 * api-jobs.json beside the history of jobs no config defines, or beside API job definitions in the log,
 * stops the start (lostApiJobs()). The log's definitions are written to api-jobs.json before its segments go.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { WatchbellError } from '../jobs/errors.js';
import type { Execution } from '../jobs/execution.js';
import type { Job } from '../jobs/job.js';
import { isValidExecutionId, isValidJobId } from '../jobs/ids.js';
import type { Checkpointer } from './checkpoint.js';
import { eachLimited } from './each-limited.js';
import { API_JOBS_FILE, corrupt, META_KEYS, pickMeta, readText, type JobDocuments } from './job-documents.js';
import { compactionThreshold, emptyJournal, JOURNAL_FILE, parseJournal, type JournalContents } from './job-journal.js';
import { compareIds, deepFreeze, JobRecord } from './job-record.js';
import type { JobState } from './store.js';
import { replaySegment, type WriteAheadLog } from './write-ahead-log.js';

/** The whole-file format of earlier versions ({ state, executions }); read once and turned into a journal. */
const LEGACY_FILE = 'executions.json';
export const LOGS_DIR = 'logs';
const LOG_FILE_RE = /^(exec-[0-9a-z]{20})\.log(\.idx)?$/;
/** Job files read at once on open: enough to keep the disk busy, few enough for the fd limit. */
const OPEN_CONCURRENCY = 32;

export const LOST_FOUND_DIR = 'lost+found';

/** A file or dir start-up moved to lost+found instead of deleting it. */
export interface LostFile {
  /** Where it was, relative to the data dir. */
  path: string;
  /** Where it is now, relative to the data dir; null when it could not be moved (it was left in place). */
  moved_to: string | null;
  reason: string;
}

/** What loading needs of the store. */
export interface LoadContext {
  dataDir: string;
  jobsDir: string;
  /** The dir of a job; throws on an invalid id. */
  jobDir(jobId: string): string;
  docs: JobDocuments;
  wal: WriteAheadLog;
  checkpointer: Checkpointer;
}

/** A job's journal as read at start, and whether it must be rewritten (torn, too long, or behind the log). */
interface LoadedJournal {
  contents: JournalContents;
  rewrite: boolean;
  /** Read from a file of the earlier whole-file format, removed once the journal is written. */
  legacy?: boolean;
}

/**
 * Reads every job's journal, replays the log over them, and starts the log afresh; the documents are
 * loaded first. Adds to `lost` what it moved to lost+found.
 */
export async function loadJournals(ctx: LoadContext, lost: LostFile[]): Promise<Map<string, JobRecord>> {
  const dirs = (await readdir(ctx.jobsDir, { withFileTypes: true }))
    .filter((d) => d.isDirectory() && isValidJobId(d.name))
    .map((d) => d.name);
  const journals = new Map<string, LoadedJournal>();
  await eachLimited(dirs, OPEN_CONCURRENCY, async (jobId) => {
    const loaded = await readJournal(ctx.jobDir(jobId));
    if (loaded) journals.set(jobId, loaded);
  });

  // What the log holds past the journals (a crash, or a stop before the last checkpoint).
  const segments = await ctx.wal.readSegments();
  const gone = new Set<string>();
  /** API jobs the log defines or deletes: api-jobs.json is behind it. */
  const defined = new Set<string>();
  for (const segment of segments) {
    try {
      replaySegment(segment.text, {
        journalOf: (jobId) => {
          let loaded = journals.get(jobId);
          if (!loaded) journals.set(jobId, (loaded = { contents: emptyJournal(), rewrite: true }));
          loaded.rewrite = true;
          return loaded.contents;
        },
        onGone: (jobId) => {
          journals.delete(jobId);
          gone.add(jobId);
          if (ctx.docs.apiById.delete(jobId)) defined.add(jobId);
        },
        onDef: (jobId, job) => {
          ctx.docs.apiById.set(jobId, job as Job);
          defined.add(jobId);
        },
      });
    } catch (err) {
      throw corrupt(segment.path, (err as Error).message, err);
    }
  }
  for (const jobId of gone) {
    // Deleted, but its dir outlived a crash; a job of the same id made since starts a new journal.
    if (!isValidJobId(jobId)) continue;
    if (!journals.has(jobId)) await rm(ctx.jobDir(jobId), { recursive: true, force: true });
    else journals.get(jobId)!.rewrite = true;
  }
  const records = new Map<string, JobRecord>();
  let movedMeta = false;
  /** Jobs with a history but no definition facts of a config job: made through the API. */
  const apiMade: string[] = [];
  for (const [jobId, loaded] of journals) {
    if (!isValidJobId(jobId)) continue;
    const { rec, hadMeta } = toRecord(jobId, ctx.jobDir(jobId), loaded);
    // Definition facts kept in the job's own file by earlier versions move to config-jobs.json.
    if (hadMeta && !ctx.docs.configMeta.has(jobId)) {
      ctx.docs.configMeta.set(jobId, pickMeta(loaded.contents.state));
      movedMeta = true;
    }
    if (!ctx.docs.configMeta.has(jobId)) apiMade.push(jobId);
    records.set(jobId, rec);
  }
  // API jobs only the log defines count too: api-jobs.json is made at the first open, so its loss lost the older ones.
  for (const jobId of defined) if (!journals.has(jobId) && ctx.docs.apiById.has(jobId)) apiMade.push(jobId);
  // Before anything is moved or rewritten: a start refused here leaves the data dir as it found it.
  if (!ctx.docs.apiFileFound && apiMade.length > 0) throw lostApiJobs(join(ctx.dataDir, API_JOBS_FILE), apiMade);
  const lostFound = new LostFound(ctx.dataDir, lost);
  for (const jobId of dirs) {
    if (journals.has(jobId)) continue;
    // Neither a journal nor anything in the log: a temp file, or logs whose journal is gone (moved aside?).
    await lostFound.jobDir(ctx.jobDir(jobId), `job ${jobId} has no journal and the write-ahead log does not name it`);
  }
  await eachLimited([...records.values()], OPEN_CONCURRENCY, async (rec) => {
    if (rec.needsCompaction) await ctx.checkpointer.compact(rec);
    if (journals.get(rec.jobId)?.legacy) await rm(join(rec.dir, LEGACY_FILE), { force: true });
    await sweepLogs(rec, gone.has(rec.jobId) ? undefined : lostFound);
  });
  // Before the segments go: what they held of API job definitions must be in the file first.
  if (!ctx.docs.apiFileFound || defined.size > 0) await ctx.docs.writeApiFile(await ctx.docs.apiFileText(ctx.docs.apiSnapshot()));
  if (movedMeta) await ctx.docs.configMeta.write();
  // Every journal is whole now: the old segments can go, and the log starts afresh.
  const last = segments.length > 0 ? segments[segments.length - 1]!.seq : 0;
  ctx.wal.start(last);
  await ctx.wal.removeUpTo(last);
  return records;
}

/** A job's journal (or its file of the earlier format), or undefined when it has none. */
async function readJournal(dir: string): Promise<LoadedJournal | undefined> {
  const file = join(dir, JOURNAL_FILE);
  const text = await readText(file);
  if (text !== undefined) {
    try {
      const contents = parseJournal(text);
      return { contents, rewrite: contents.torn || contents.lines > compactionThreshold(contents.executions.size) };
    } catch (err) {
      throw corrupt(file, (err as Error).message, err);
    }
  }
  const legacy = await readLegacy(join(dir, LEGACY_FILE));
  // No journal yet: what the job has may all be in the write-ahead log (loadJournals decides after replaying it).
  if (!legacy) return undefined;
  const contents = emptyJournal();
  contents.state = legacy.state;
  for (const e of legacy.executions) if (e && typeof e.id === 'string') contents.executions.set(e.id, e);
  return { contents, rewrite: true, legacy: true };
}

/** A job file of the earlier whole-file format, or undefined when there is none. */
async function readLegacy(file: string): Promise<{ state: JobState; executions: Execution[] } | undefined> {
  const text = await readText(file);
  if (text === undefined) return undefined;
  let data: { state?: unknown; executions?: unknown };
  try {
    data = JSON.parse(text) as typeof data;
  } catch (err) {
    throw corrupt(file, (err as Error).message, err);
  }
  if (data === null || typeof data !== 'object' || !Array.isArray(data.executions)) {
    throw corrupt(file, 'expected { "state": {...}, "executions": [...] }');
  }
  const state = data.state && typeof data.state === 'object' ? (data.state as JobState) : {};
  return { state, executions: data.executions as Execution[] };
}

/** Turns a loaded journal into the job's record; `hadMeta` when its state held definition facts. */
function toRecord(jobId: string, dir: string, { contents, rewrite }: LoadedJournal): { rec: JobRecord; hadMeta: boolean } {
  const rec = new JobRecord(jobId, dir);
  const runtime: JobState = { ...contents.state };
  let hadMeta = false;
  for (const key of META_KEYS) {
    if (!(key in runtime)) continue;
    hadMeta = true;
    delete runtime[key];
  }
  rec.state = runtime;
  rec.executions = [...contents.executions.values()]
    .filter((e) => e && isValidExecutionId(e.id))
    .sort((a, b) => compareIds(a.id, b.id))
    .map(deepFreeze);
  rec.index();
  rec.lines = contents.lines;
  rec.needsCompaction = rewrite || hadMeta;
  rec.dirReady = !rewrite || contents.lines > 0;
  return { rec, hadMeta };
}

/**
 * Moves aside logs no stored execution refers to: left by a crash between a trim and its unlink, or
 * orphaned by a journal or log segment moved away by hand (which is why they are not deleted). Without
 * `lostFound` (a job the log says was deleted, then made anew) they are the deleted job's, and go.
 */
async function sweepLogs(rec: JobRecord, lostFound: LostFound | undefined): Promise<void> {
  const logsDir = join(rec.dir, LOGS_DIR);
  let names: string[];
  try {
    names = await readdir(logsDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const orphans = names.filter((name) => {
    const m = LOG_FILE_RE.exec(name);
    return m !== null && !rec.byId.has(m[1]!);
  });
  for (const name of orphans) {
    if (!lostFound) await rm(join(logsDir, name), { force: true });
    else await lostFound.file(join(logsDir, name), `no execution of job ${rec.jobId} in its journal or the write-ahead log is ${LOG_FILE_RE.exec(name)![1]}`);
  }
}

/** Moves what start-up cannot account for into DATA/lost+found/, under the same relative path. */
class LostFound {
  private readonly root: string;
  private readonly stamp = new Date().toISOString().replace(/[:.]/g, '-');

  constructor(
    private readonly dataDir: string,
    private readonly lost: LostFile[],
  ) {
    this.root = join(dataDir, LOST_FOUND_DIR);
  }

  /** Moves a job dir holding more than temp files; removes one that holds only those. */
  async jobDir(dir: string, reason: string): Promise<void> {
    if (!(await holdsData(dir))) {
      await rm(dir, { recursive: true, force: true });
      return;
    }
    await this.file(dir, reason);
  }

  async file(path: string, reason: string): Promise<void> {
    const rel = relative(this.dataDir, path);
    // Stamped by start, so a file of the same name moved by an earlier start is never overwritten.
    const target = join(this.root, this.stamp, rel);
    try {
      await mkdir(dirname(target), { recursive: true });
      await rename(path, target);
      this.lost.push({ path: rel, moved_to: relative(this.dataDir, target), reason });
    } catch (err) {
      this.lost.push({ path: rel, moved_to: null, reason: `${reason}; could not be moved (${(err as NodeJS.ErrnoException).code ?? String(err)}), left in place` });
    }
  }
}

/** True when a dir holds anything besides a journal's temp file (its logs, most likely). */
async function holdsData(dir: string): Promise<boolean> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.some((n) => !n.endsWith('.tmp'));
}

/** Why a start is refused when api-jobs.json is gone but the history of API jobs is not. */
function lostApiJobs(file: string, ids: string[]): WatchbellError {
  const shown = ids.slice(0, 10).join(', ') + (ids.length > 10 ? ` and ${ids.length - 10} more` : '');
  return new WatchbellError(
    'STORE_UNAVAILABLE',
    `${file} is missing, but the data dir holds the history of ${ids.length} job(s) that no config defines (${shown}): ` +
      `API jobs, whose definitions that file held. Restore it from a backup; or, to start without those jobs ` +
      `(their executions stay, listed by GET /api/v1/executions), create it empty: echo '{"jobs":[]}' > ${file} ` +
      `(docs/operations.md, "Recovering the data dir")`,
  );
}
