/**
 * Reading an execution's log (store/log-file.ts's format) as bytes, in chunks of at most LOG_CHUNK: every
 * selection (whole, one stream, the last N lines) and every follow goes through one LogCursor, so no read
 * holds more than a chunk of the log (plus, for a stream filter, the positions of its chunks) in memory,
 * however large the log. Bytes are passed through, never decoded: binary output reads back byte-exact.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { indexPath, type OutputStream } from './log-file.js';
import { stepOfNote } from './log-steps.js';

/** The most bytes read (and handed on) at once. */
export const LOG_CHUNK = 64 * 1024;

const STREAM_TAG = { stdout: 'o', stderr: 'e' } as const;
const NEWLINE = 0x0a;

export interface LogSelection {
  /** Only this stream's chunks; watchbell's own lines are left out. */
  stream?: OutputStream;
  /** Only the last N lines (0: nothing yet; a follow then shows only new output). */
  tail?: number;
  /** Only this step's part: from a `--- step NAME: ` note of its own to the next step's (log-steps.ts). */
  step?: string;
}

/** The longest note the runner writes; a longer `w` chunk cannot open a step's part. */
const MAX_NOTE = 4096;

/**
 * A position in a log that reads forward from where it is to where the files end now, a chunk at a time.
 * A follow calls readAvailable() again after each pause; a plain read calls it once.
 */
export class LogCursor {
  /** Next byte of the combined log to hand on. */
  private pos = 0;
  /** For a stream or step filter: the ranges of the combined log it selects not yet handed on, in order. */
  private starts: number[] = [];
  private ends: number[] = [];
  private first = 0;
  /** For a filter: bytes of the index parsed (whole lines only), and where in the log they end. */
  private idxPos = 0;
  private covered = 0;
  /** For a step filter: the step whose part the parsed index has reached. */
  private currentStep: string | null = null;
  /** A filter needs the index (which chunk is whose); the whole log is read without it. */
  private readonly filtered: boolean;
  /** The last byte handed on, so a caller can end its own note on a line of its own. */
  lastByte: number | undefined;
  /** The one buffer every chunk is read into: a follower costs LOG_CHUNK bytes, and makes no garbage. */
  private buffer: Buffer | undefined;

  constructor(
    readonly path: string,
    readonly stream?: OutputStream,
    readonly step?: string,
  ) {
    this.filtered = stream !== undefined || step !== undefined;
  }

  /** Moves to the start of the last `lines` lines written so far (0: to the end). O(tail) reads for the whole log. */
  async seekTail(lines: number): Promise<void> {
    const fh = await openIfExists(this.path);
    if (!fh) return;
    try {
      const size = (await fh.stat()).size;
      if (this.filtered) await this.parseIndex(size, Infinity);
      else this.pos = size;
      if (lines <= 0) {
        this.skipToEnd(size);
        return;
      }
      await this.seekBackLines(fh, size, Math.floor(lines));
    } finally {
      await fh.close();
    }
  }

  /**
   * The bytes from the cursor to the end of what is written now (for a stream filter: to where the index
   * ends), in chunks of at most LOG_CHUNK, each read only once the previous one was taken: a slow
   * consumer holds the cursor, not a buffer. A missing log yields nothing.
   *
   * Each chunk is a view of the cursor's one buffer, valid until the next is asked for: a consumer that
   * keeps chunks copies them, and a writer waits until a chunk is written out before it asks for the next
   * (api/routes/log-body.ts). That is what keeps 100 followers of a growing log from allocating (and
   * leaving to the garbage collector) a new 64 KiB buffer per chunk each.
   */
  async *readAvailable(signal?: AbortSignal): AsyncGenerator<Buffer, void, undefined> {
    const fh = await openIfExists(this.path);
    if (!fh) return;
    try {
      const size = (await fh.stat()).size;
      for (;;) {
        if (signal?.aborted) return;
        const range = await this.nextRange(size);
        if (!range) return;
        const want = Math.min(LOG_CHUNK, range.end - this.pos);
        const buf = (this.buffer ??= Buffer.allocUnsafeSlow(LOG_CHUNK));
        const { bytesRead } = await fh.read(buf, 0, want, this.pos);
        if (bytesRead === 0) return;
        this.pos += bytesRead;
        const chunk = buf.subarray(0, bytesRead);
        this.lastByte = chunk[chunk.length - 1];
        yield chunk;
      }
    } finally {
      await fh.close();
    }
  }

  /** The readable range the cursor is in, up to `size`; undefined when nothing more is readable now. */
  private async nextRange(size: number): Promise<{ end: number } | undefined> {
    if (!this.filtered) return this.pos < size ? { end: size } : undefined;
    for (;;) {
      while (this.first < this.starts.length && this.pos >= this.ends[this.first]!) this.first++;
      if (this.first < this.starts.length) {
        this.pos = Math.max(this.pos, this.starts[this.first]!);
        const end = Math.min(this.ends[this.first]!, size);
        return this.pos < end ? { end } : undefined;
      }
      this.compact();
      // Bounded: one chunk of index lines at a time, so a 300 MB log's index is never held whole.
      if (!(await this.parseIndex(size, LOG_CHUNK))) return undefined;
    }
  }

  /** Drops ranges already handed on. */
  private compact(): void {
    if (this.first === 0) return;
    this.starts = this.starts.slice(this.first);
    this.ends = this.ends.slice(this.first);
    this.first = 0;
  }

  /**
   * Parses up to `budget` bytes of new index lines into ranges of the cursor's selection (adjacent ones merged);
   * false when there was nothing new. A last line without its newline is still being written: left for later,
   * and so is a note whose bytes have not reached the log yet (a step filter must read it to know whose part follows).
   */
  private async parseIndex(size: number, budget: number): Promise<boolean> {
    const fh = await openIfExists(indexPath(this.path));
    if (!fh) return false;
    const log = this.step !== undefined ? await openIfExists(this.path) : undefined;
    const tag = this.stream ? STREAM_TAG[this.stream] : undefined;
    let progressed = false;
    try {
      const buf = Buffer.allocUnsafe(LOG_CHUNK);
      let spent = 0;
      parse: while (spent < budget && this.covered < size) {
        const { bytesRead } = await fh.read(buf, 0, LOG_CHUNK, this.idxPos);
        if (bytesRead === 0) break;
        const lastNl = buf.lastIndexOf(NEWLINE, bytesRead - 1);
        if (lastNl < 0) break;
        const text = buf.toString('latin1', 0, lastNl + 1);
        let lineStart = 0;
        for (let nl = text.indexOf('\n'); nl >= 0; lineStart = nl + 1, nl = text.indexOf('\n', lineStart)) {
          const n = Number(text.slice(lineStart + 2, nl));
          const kind = text[lineStart];
          if (Number.isSafeInteger(n) && n >= 0) {
            const start = this.covered;
            if (log && kind === 'w' && n < MAX_NOTE) {
              if (start + n > size) {
                this.idxPos += lineStart;
                progressed ||= lineStart > 0;
                break parse;
              }
              this.currentStep = stepOfNote(await readAt(log, start, n)) ?? this.currentStep;
            }
            this.covered += n;
            if (n > 0 && (tag === undefined ? this.currentStep === this.step : kind === tag && (this.step === undefined || this.currentStep === this.step))) {
              this.addRange(start, this.covered);
            }
          }
        }
        this.idxPos += lastNl + 1;
        spent += lastNl + 1;
        progressed = true;
      }
    } finally {
      await fh.close();
      await log?.close();
    }
    return progressed;
  }

  /** Adds a selected range, merged with the last one when adjacent. */
  private addRange(start: number, end: number): void {
    const last = this.ends.length - 1;
    if (last >= this.first && this.ends[last] === start) this.ends[last] = end;
    else {
      this.starts.push(start);
      this.ends.push(end);
    }
  }

  /** Past everything written so far. */
  private skipToEnd(size: number): void {
    this.pos = this.filtered ? Math.min(this.covered, size) : size;
  }

  /**
   * Moves back from the end to the start of the last `lines` lines of the selection, reading blocks
   * backwards. The selection's final newline ends its last line rather than starting one.
   */
  private async seekBackLines(fh: FileHandle, size: number, lines: number): Promise<void> {
    const ranges = this.filtered
      ? this.starts.map((s, i) => ({ start: s, end: Math.min(this.ends[i]!, size) })).filter((r) => r.end > r.start)
      : [{ start: 0, end: size }];
    let found = 0;
    let skipFinal = true;
    const block = Buffer.allocUnsafe(LOG_CHUNK);
    for (let i = ranges.length - 1; i >= 0; i--) {
      const r = ranges[i]!;
      for (let end = r.end; end > r.start; ) {
        const start = Math.max(r.start, end - LOG_CHUNK);
        const { bytesRead } = await fh.read(block, 0, end - start, start);
        for (let k = bytesRead - 1; k >= 0; k--) {
          if (block[k] !== NEWLINE) {
            skipFinal = false;
            continue;
          }
          if (skipFinal) {
            skipFinal = false;
            continue;
          }
          if (++found === lines) {
            this.moveTo(start + k + 1, i, ranges.length);
            return;
          }
        }
        end = start;
      }
    }
    this.moveTo(ranges[0]?.start ?? 0, 0, ranges.length);
  }

  /** Sets the cursor at byte `pos`, inside the `i`-th of `count` stream ranges. */
  private moveTo(pos: number, i: number, count: number): void {
    this.pos = pos;
    if (this.filtered) {
      // Ranges were clamped to the size when counted; those cut to nothing were left out at the end only.
      this.first = Math.min(i, count);
      this.compact();
    }
  }
}

/** The selection as it is now, in chunks of at most LOG_CHUNK (each valid until the next, see readAvailable); nothing for a missing log. */
export async function* readLogChunks(path: string, selection: LogSelection = {}, signal?: AbortSignal): AsyncGenerator<Buffer, void, undefined> {
  const cursor = new LogCursor(path, selection.stream, selection.step);
  if (selection.tail !== undefined) {
    if (!(selection.tail > 0)) return;
    await cursor.seekTail(selection.tail);
  }
  yield* cursor.readAvailable(signal);
}

/** The selection as one string: for small logs and tests only; the API streams readLogChunks. */
export async function readLog(path: string, selection: LogSelection = {}): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of readLogChunks(path, selection)) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

/** The last `bytes` bytes of the combined log as it is now (fewer for a shorter log, none for a missing one). */
export async function readLogEnd(path: string, bytes: number): Promise<Buffer> {
  const fh = await openIfExists(path);
  if (!fh) return Buffer.alloc(0);
  try {
    const size = (await fh.stat()).size;
    const from = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - from);
    const { bytesRead } = await fh.read(buf, 0, buf.length, from);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** True when the log file exists (an execution that never wrote a byte has none). */
export async function logExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function readAt(fh: FileHandle, start: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, start);
  return buf.subarray(0, bytesRead);
}

async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
