/**
 * Recovery at open: how the embedded store rebuilds its memory from the data dir. Every job's
 * journal (or its file of the earlier whole-file format) is read, the write-ahead log's segments are
 * replayed over them (what a crash or a stop before the last checkpoint left there), journals that
 * were torn, too long or behind the log are rewritten, logs no execution refers to are swept, and the
 * log starts a fresh segment.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Execution } from '../jobs/execution.js';
import { isValidExecutionId, isValidJobId } from '../jobs/ids.js';
import type { Checkpointer } from './checkpoint.js';
import { eachLimited } from './each-limited.js';
import { corrupt, META_KEYS, pickMeta, readText, type JobDocuments } from './job-documents.js';
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

/** What loading needs of the store. */
export interface LoadContext {
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

/** Reads every job's journal, replays the log over them, and starts the log afresh; the documents are loaded first. */
export async function loadJournals(ctx: LoadContext): Promise<Map<string, JobRecord>> {
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
  for (const segment of segments) {
    try {
      replaySegment(
        segment.text,
        (jobId) => {
          let loaded = journals.get(jobId);
          if (!loaded) journals.set(jobId, (loaded = { contents: emptyJournal(), rewrite: true }));
          loaded.rewrite = true;
          return loaded.contents;
        },
        (jobId) => {
          journals.delete(jobId);
          gone.add(jobId);
        },
      );
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
  for (const [jobId, loaded] of journals) {
    if (!isValidJobId(jobId)) continue;
    const { rec, hadMeta } = toRecord(jobId, ctx.jobDir(jobId), loaded);
    // Definition facts kept in the job's own file by earlier versions move to config-jobs.json.
    if (hadMeta && !ctx.docs.configMeta.has(jobId)) {
      ctx.docs.configMeta.set(jobId, pickMeta(loaded.contents.state));
      movedMeta = true;
    }
    records.set(jobId, rec);
  }
  for (const jobId of dirs) {
    // Neither a journal nor anything in the log: only a temp file or logs nothing acknowledged refers to.
    if (!journals.has(jobId)) await rm(ctx.jobDir(jobId), { recursive: true, force: true });
  }
  await eachLimited([...records.values()], OPEN_CONCURRENCY, async (rec) => {
    if (rec.needsCompaction) await ctx.checkpointer.compact(rec);
    if (journals.get(rec.jobId)?.legacy) await rm(join(rec.dir, LEGACY_FILE), { force: true });
    await sweepLogs(rec);
  });
  if (movedMeta) await ctx.docs.writeConfig();
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

/** Deletes logs no stored execution refers to (left by a crash between trim and unlink). */
async function sweepLogs(rec: JobRecord): Promise<void> {
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
  await Promise.all(orphans.map((name) => rm(join(logsDir, name), { force: true })));
}
