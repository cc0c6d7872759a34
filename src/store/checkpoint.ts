/**
 * The embedded store's checkpoint: brings every job's journal and api-jobs.json up to date with the
 * write-ahead log, then deletes the log segments that covers. Runs in the background (every CHECKPOINT_MS, and once
 * the log's current segment holds CHECKPOINT_BYTES), at close, and when called; one at a time.
 * Nothing waits on it to acknowledge a change: that is the log's job.
 */
import { eachLimited } from './each-limited.js';
import { compactedJournal, compactionThreshold } from './job-journal.js';
import type { JobRecord } from './job-record.js';
import type { StoreDisk } from './store-disk.js';
import type { WriteAheadLog } from './write-ahead-log.js';

/** A checkpoint at least this often, and as soon as the log's current segment holds CHECKPOINT_BYTES. */
export const CHECKPOINT_MS = 30_000;
export const CHECKPOINT_BYTES = 32 * 1024 * 1024;
/** Journals a checkpoint writes at once. */
const CHECKPOINT_CONCURRENCY = 8;

export class Checkpointer {
  /** Jobs whose journal is behind the log: the next checkpoint writes them. */
  readonly behind = new Set<JobRecord>();
  private checkpointing: Promise<void> | undefined;
  private nextCheckpoint: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  /**
   * `deletions`: job dirs being removed; a journal of a job re-created meanwhile is written after the rm.
   * `whenDurable`: calls its callback, synchronously, at a moment when all a job holds in memory is in the
   * write-ahead log (now, or at the end of the next flush): a journal compacted from memory must not hold a
   * change whose write may still fail and be undone.
   * `writeDocs`: brings api-jobs.json up to date with at least what the log held when the checkpoint began.
   */
  constructor(
    private readonly wal: WriteAheadLog,
    private readonly disk: StoreDisk,
    private readonly deletions: ReadonlyMap<string, Promise<void>>,
    private readonly whenDurable: (rec: JobRecord, then: () => void) => void,
    private readonly writeDocs: () => Promise<void>,
  ) {}

  /** Checkpoints every CHECKPOINT_MS until stop(). */
  start(): void {
    this.timer = setInterval(() => void this.checkpoint().catch(() => undefined), CHECKPOINT_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Brings every journal up to date with what the log held when it was called. */
  checkpoint(): Promise<void> {
    // One running, at most one waiting: a call during a run must cover the lines logged after that run began.
    if (this.nextCheckpoint) return this.nextCheckpoint;
    if (this.checkpointing) {
      this.nextCheckpoint = this.checkpointing.catch(() => undefined).then(() => {
        this.nextCheckpoint = undefined;
        return this.checkpoint();
      });
      return this.nextCheckpoint;
    }
    this.checkpointing = this.run().finally(() => {
      this.checkpointing = undefined;
    });
    return this.checkpointing;
  }

  /** Rewrites a journal from memory: a temp file renamed over the old one, so a crash leaves one or the other. */
  async compact(rec: JobRecord): Promise<void> {
    // Memory holds every change so far; later ones are appended after it, and applying one twice changes nothing.
    const { text, lines } = await new Promise<ReturnType<typeof compactedJournal>>((resolve) =>
      this.whenDurable(rec, () => resolve(compactedJournal(rec.state, rec.executions))),
    );
    rec.needsCompaction = false;
    try {
      await this.ensureDir(rec);
      await this.disk.replaceFile(rec.file, text);
    } catch (err) {
      rec.needsCompaction = true;
      throw err;
    }
    rec.lines = lines;
  }

  private async run(): Promise<void> {
    // Lines written from here on go to a new segment; the closed one is covered once every journal is written.
    const closed = this.wal.rotate();
    const recs = [...this.behind];
    this.behind.clear();
    let failed = false;
    const docs = this.writeDocs().catch(() => {
      failed = true;
    });
    await eachLimited(recs, CHECKPOINT_CONCURRENCY, async (rec) => {
      const lines = rec.unflushed;
      rec.unflushed = [];
      if (rec.deleted) return;
      await this.deletions.get(rec.jobId)?.catch(() => undefined);
      if (rec.deleted || (lines.length === 0 && !rec.needsCompaction)) return;
      rec.journalWrite = this.writeJournal(rec, lines);
      try {
        await rec.journalWrite;
      } catch {
        // Memory holds it all: the next checkpoint rewrites the journal whole, and the log is kept till then.
        failed = true;
        rec.needsCompaction = true;
        this.behind.add(rec);
      } finally {
        rec.journalWrite = undefined;
      }
    });
    await docs;
    // A failed journal (or api-jobs.json) is rewritten whole by a later checkpoint; until one succeeds, every segment is kept.
    if (!failed) await this.wal.removeUpTo(closed);
  }

  /**
   * Appends lines to a job's journal, or rewrites it compacted when it has grown too long. Through the
   * thread pool: on a busy disk a mkdir took 270 us and an append 50 us, and 10,000 of them on the
   * event loop held the API for seconds.
   */
  private async writeJournal(rec: JobRecord, lines: string[]): Promise<void> {
    if (rec.needsCompaction || rec.lines + lines.length > compactionThreshold(rec.executions.length)) {
      await this.compact(rec);
      return;
    }
    await this.ensureDir(rec);
    await this.disk.appendFile(rec.file, lines.join(''));
    rec.lines += lines.length;
  }

  /** Creates a job's dir before its first journal write (once; later writes find it there). */
  private async ensureDir(rec: JobRecord): Promise<void> {
    if (rec.dirReady) return;
    await this.disk.mkdir(rec.dir);
    rec.dirReady = true;
  }
}
