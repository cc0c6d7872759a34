/**
 * The store's write-ahead log: `DATA_DIR/wal/<seq>.jsonl`, journal lines of every job tagged with the
 * job's id (`{"j":"backup","put":{...}}`), plus `{"j":"backup","gone":true}` when a job is deleted.
 *
 * Every change is acknowledged once it is in the log: one write to one open file per turn of the event
 * loop, however many jobs changed in it (10,000 skipped runs a second are a few writes, not 10,000
 * appends to 10,000 files). The per-job journals are brought up to date in the background (a
 * checkpoint), after which the segments they cover are deleted. At start, whatever segments are left
 * are replayed over the journals; replaying a line twice changes nothing (a `put` is an upsert, a
 * `state` a whole state, a `drop` and a `gone` removals), so a crash mid-checkpoint is harmless.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { applyEntry, JournalError, jsonLines, type JournalContents } from './job-journal.js';
import type { StoreDisk } from './store-disk.js';

export const WAL_DIR = 'wal';
const SEGMENT_RE = /^(\d{12})\.jsonl$/;

/** One segment read back at start. */
export interface WalSegment {
  seq: number;
  path: string;
  text: string;
}

/** The log line for a job's journal line (which is `{...}\n`). */
export function walLine(jobId: string, journalLine: string): string {
  return `{"j":${JSON.stringify(jobId)},${journalLine.slice(1)}`;
}

/** The line that records a job's deletion. */
export function goneLine(jobId: string): string {
  return `{"j":${JSON.stringify(jobId)},"gone":true}\n`;
}

/**
 * Applies a segment's lines: each to the contents `journalOf` gives for its job, or `onGone` for a
 * deletion. A last line cut short by a crash was never acknowledged and is skipped.
 */
export function replaySegment(text: string, journalOf: (jobId: string) => JournalContents, onGone: (jobId: string) => void): void {
  for (const line of jsonLines(text)) {
    if ('torn' in line) return;
    const entry = line.value as { j?: unknown; gone?: unknown } | null;
    if (entry === null || typeof entry !== 'object' || typeof entry.j !== 'string') throw new JournalError(line.lineNo, 'expected an object with a job id in "j"');
    const { j, gone, ...rest } = entry;
    if (gone === true) onGone(j);
    else applyEntry(journalOf(j), rest, line.lineNo);
  }
}

/** Appends to the current segment; rotates to a new one for each checkpoint. */
export class WriteAheadLog {
  readonly dir: string;
  private fd: number | null = null;
  private seq = 0;
  /** Bytes in the current segment. */
  bytes = 0;

  constructor(
    dataDir: string,
    private readonly disk: StoreDisk,
  ) {
    this.dir = join(dataDir, WAL_DIR);
  }

  /** The segments on disk, oldest first. */
  async readSegments(): Promise<WalSegment[]> {
    const out: WalSegment[] = [];
    for (const seq of await this.segmentNumbers()) {
      const path = this.pathOf(seq);
      out.push({ seq, path, text: await readFile(path, 'utf8') });
    }
    return out;
  }

  /** Starts writing a new segment numbered after `lastSeq` (the newest one on disk, 0 for none). */
  start(lastSeq: number): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.seq = lastSeq;
    this.openNext();
  }

  /**
   * Appends text (whole lines); synchronous, so the change is in the file when it returns. A failed
   * append leaves the segment as it was (store-disk.ts cuts a partial write back).
   */
  append(text: string): void {
    if (this.fd === null) throw new Error('write-ahead log is not open');
    const buf = Buffer.from(text);
    try {
      this.disk.appendSync(this.fd, buf, this.bytes, this.pathOf(this.seq));
    } catch (err) {
      // A torn line must stay the last of its segment (a replay skips only a torn last line).
      if ((err as { torn?: boolean }).torn) {
        try {
          this.rotate();
        } catch {
          // The next append fails as well, and says why.
        }
      }
      throw err;
    }
    this.bytes += buf.length;
  }

  /** Closes the current segment and opens the next; returns the closed one's number. */
  rotate(): number {
    const closed = this.seq;
    this.openNext();
    return closed;
  }

  /** Deletes the segments numbered up to `seq`. */
  async removeUpTo(seq: number): Promise<void> {
    for (const s of await this.segmentNumbers()) if (s <= seq) await rm(this.pathOf(s), { force: true });
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private openNext(): void {
    const next = openSync(this.pathOf(this.seq + 1), 'a', 0o600);
    if (this.fd !== null) closeSync(this.fd);
    this.fd = next;
    this.seq++;
    this.bytes = 0;
  }

  /** The numbers of the segments on disk, oldest first; none when the folder does not exist yet. */
  private async segmentNumbers(): Promise<number[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const seqs = names.flatMap((n) => {
      const m = SEGMENT_RE.exec(n);
      return m ? [Number(m[1])] : [];
    });
    return seqs.sort((a, b) => a - b);
  }

  private pathOf(seq: number): string {
    return join(this.dir, `${String(seq).padStart(12, '0')}.jsonl`);
  }
}
