/**
 * The on-disk log of one execution, written by the runner and read by the API.
 *
 * `<eid>.log` holds the combined output bytes in arrival order, so whole and tail reads need no
 * reassembly. `<eid>.log.idx` has one line per chunk, `o <bytes>` (stdout), `e <bytes>` (stderr)
 * or `w <bytes>` (a note of watchbell's own), which lets a reader pick one stream's chunks.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { OUTPUT_TAIL_BYTES } from '../jobs/execution.js';
import { APPEND_NO_FOLLOW, mkdirInsideSync } from './safe-fs.js';

export type OutputStream = 'stdout' | 'stderr';

// Numeric open(2) flags, which fs.open takes (the typings say string only); errors still arrive as the stream's 'error'.
const APPEND_OPTIONS = { flags: APPEND_NO_FOLLOW as unknown as string, mode: 0o600 };

/** Appends one execution's output to its log; satisfies run/log-sink.ts's LogSink. */
export interface LogWriter {
  readonly path: string;
  /** Appends a chunk of the job's output. The chunk must not be modified afterwards. */
  write(stream: OutputStream, chunk: Buffer | string): void;
  /** Appends a line of watchbell's own (`--- attempt 2 of 4 ---`), on a line by itself. */
  note(text: string): void;
  /** The last OUTPUT_TAIL_BYTES of the combined log, cut so no character is split. */
  tail(): string;
  /** Output bytes kept (notes not counted). */
  readonly bytesWritten: number;
  /** Output bytes dropped past `maxBytes`. */
  readonly bytesDropped: number;
  /** True once output was dropped past `maxBytes`. */
  readonly truncated: boolean;
  /** Flushes and closes the files; idempotent. Rejects with the first write error, if any. */
  close(): Promise<void>;
}

export interface LogWriterOptions {
  /** Output bytes kept; the rest is dropped and the log says so. */
  maxBytes: number;
}

export interface ReadLogOptions {
  stream?: OutputStream;
  /** Only the last N lines. */
  tail?: number;
}

/** The index file next to a log. */
export function indexPath(logPath: string): string {
  return `${logPath}.idx`;
}

const STREAM_TAG = { stdout: 'o', stderr: 'e' } as const;
const NEWLINE = 0x0a;
const BLOCK = 64 * 1024;

/** A writer appending to the log at `path` and its index, both created (with their directory) at the first byte. */
export function createLogWriter(path: string, options: LogWriterOptions): LogWriter {
  return new LogFileWriter(path, options.maxBytes);
}

class LogFileWriter implements LogWriter {
  readonly path: string;
  bytesWritten = 0;
  bytesDropped = 0;
  truncated = false;
  private readonly maxBytes: number;
  /** Opened at the first byte: many runs write nothing, and opening and closing two files cost each such run ~0.5 ms (docs/benchmarks.md). */
  private files: { log: WriteStream; idx: WriteStream } | undefined;
  private tailBuf: Buffer = Buffer.alloc(0);
  private lastByte: number | undefined;
  private error: Error | undefined;
  private closing: Promise<void> | undefined;

  constructor(path: string, maxBytes: number) {
    this.path = path;
    this.maxBytes = Math.max(0, Math.floor(maxBytes));
  }

  private open(): { log: WriteStream; idx: WriteStream } {
    // Sync: the streams open asynchronously and would fail on a missing dir. At the first byte, not when the writer is
    // made: by then the runner's pid file has usually made the dir off the event loop (run/pid-file.ts).
    // The logs dir and the job's dir are checked with lstat and the files opened with O_NOFOLLOW: a link planted
    // there must not make the daemon write where it points (docs/security.md, The data dir).
    const logsDir = dirname(this.path);
    mkdirInsideSync(dirname(dirname(logsDir)), logsDir);
    const log = createWriteStream(this.path, APPEND_OPTIONS);
    const idx = createWriteStream(indexPath(this.path), APPEND_OPTIONS);
    // Without listeners a full disk would crash the daemon; close() reports the error instead.
    const keep = (err: Error) => {
      this.error ??= err;
    };
    log.on('error', keep);
    idx.on('error', keep);
    return { log, idx };
  }

  write(stream: OutputStream, chunk: Buffer | string): void {
    if (this.closing || this.truncated) {
      if (!this.closing) this.bytesDropped += Buffer.byteLength(chunk);
      return;
    }
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (buf.length === 0) return;
    const room = this.maxBytes - this.bytesWritten;
    if (buf.length <= room) {
      this.append(STREAM_TAG[stream], buf);
      this.bytesWritten += buf.length;
      return;
    }
    const keep = utf8PrefixEnd(buf, room);
    this.bytesDropped += buf.length - keep;
    buf = buf.subarray(0, keep);
    if (keep > 0) {
      this.append(STREAM_TAG[stream], buf);
      this.bytesWritten += keep;
    }
    this.truncated = true;
    this.note(`[watchbell] output truncated: max_output ${this.maxBytes} bytes reached; further output dropped`);
  }

  note(text: string): void {
    if (this.closing) return;
    let line = text.endsWith('\n') ? text : `${text}\n`;
    if (this.lastByte !== undefined && this.lastByte !== NEWLINE) line = `\n${line}`;
    this.append('w', Buffer.from(line));
  }

  tail(): string {
    const start = utf8SuffixStart(this.tailBuf);
    const end = utf8CompleteEnd(this.tailBuf);
    return this.tailBuf.toString('utf8', start, Math.max(start, end));
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.bytesDropped > 0) this.note(`[watchbell] ${this.bytesDropped} bytes of output dropped`);
    this.closing = (async () => {
      const files = this.files;
      if (!files) return;
      files.log.end();
      files.idx.end();
      await Promise.allSettled([finished(files.log), finished(files.idx)]);
      if (this.error) throw this.error;
    })();
    return this.closing;
  }

  private append(tag: 'o' | 'e' | 'w', buf: Buffer): void {
    // The log is written before the index; a reader clamps index ranges to the log's size.
    this.files ??= this.open();
    this.files.log.write(buf);
    this.files.idx.write(`${tag} ${buf.length}\n`);
    this.lastByte = buf[buf.length - 1];
    if (buf.length >= OUTPUT_TAIL_BYTES) {
      this.tailBuf = Buffer.from(buf.subarray(buf.length - OUTPUT_TAIL_BYTES));
    } else {
      const joined = Buffer.concat([this.tailBuf, buf]);
      this.tailBuf = joined.length > OUTPUT_TAIL_BYTES ? joined.subarray(joined.length - OUTPUT_TAIL_BYTES) : joined;
    }
  }
}

/**
 * A whole log as a byte stream, so serving a 10 MiB log to several clients at once costs a
 * small buffer each instead of the file as a Buffer and then a string. A missing log is ''.
 */
export async function openLog(path: string): Promise<Readable | string> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
  return handle.createReadStream({ autoClose: true });
}

/**
 * Reads a log: whole, one stream's chunks, and/or its last `tail` lines. A missing log reads as ''.
 * A tail without a stream filter reads from the end of the file, so it costs O(tail), not O(log).
 */
export async function readLog(path: string, options: ReadLogOptions = {}): Promise<string> {
  const fh = await openIfExists(path);
  if (!fh) return '';
  try {
    const size = (await fh.stat()).size;
    const ranges = options.stream ? (await streamRanges(path, options.stream, size)).ranges : [{ start: 0, end: size }];
    if (options.tail === undefined) return (await readRanges(fh, ranges)).toString('utf8');
    const lines = Math.floor(options.tail);
    if (!(lines > 0)) return '';
    return lastLines((await readTailBytes(fh, ranges, lines)).toString('utf8'), lines);
  } finally {
    await fh.close();
  }
}

/**
 * Reads what was appended since byte `offset` of the combined log (for `follow=true`): the text,
 * and the offset to pass next time. The text never ends inside a character; with a `stream`
 * filter it stops where the index ends, since later bytes have no known stream yet.
 */
export async function readLogSince(
  path: string,
  options: { stream?: OutputStream; offset: number },
): Promise<{ text: string; offset: number }> {
  const from = Math.max(0, Math.floor(options.offset));
  const fh = await openIfExists(path);
  if (!fh) return { text: '', offset: from };
  try {
    const size = (await fh.stat()).size;
    const { ranges: all, covered } = options.stream
      ? await streamRanges(path, options.stream, size)
      : { ranges: [{ start: 0, end: size }], covered: size };
    const ranges = all.filter((r) => r.end > from).map((r) => ({ start: Math.max(r.start, from), end: r.end }));
    const bytes = await readRanges(fh, ranges);
    const complete = utf8CompleteEnd(bytes);
    const text = bytes.toString('utf8', 0, complete);
    // Chunks of other streams up to where the index ends are done with too.
    if (complete === bytes.length) return { text, offset: Math.max(from, covered) };
    // A character is still incomplete: resume at its first byte, mapped back into the combined log.
    let left = complete;
    let next = from;
    for (const r of ranges) {
      const take = Math.min(left, r.end - r.start);
      next = r.start + take;
      left -= take;
      if (left === 0) break;
    }
    return { text, offset: next };
  } finally {
    await fh.close();
  }
}

interface Range {
  start: number;
  end: number;
}

async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Byte ranges of the log holding `stream`'s chunks (adjacent ones merged, clamped to `size`), and
 * how far the index covers the log.
 */
async function streamRanges(path: string, stream: OutputStream, size: number): Promise<{ ranges: Range[]; covered: number }> {
  const tag = STREAM_TAG[stream];
  let text: string;
  try {
    text = await readFile(indexPath(path), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ranges: [], covered: 0 };
    throw err;
  }
  const ranges: Range[] = [];
  let pos = 0;
  let lineStart = 0;
  // A last line without its newline is still being written, so it is left for the next read.
  for (let nl = text.indexOf('\n'); nl >= 0 && pos < size; lineStart = nl + 1, nl = text.indexOf('\n', lineStart)) {
    const n = Number(text.slice(lineStart + 2, nl));
    if (!Number.isSafeInteger(n) || n < 0) continue;
    const start = pos;
    pos += n;
    if (text[lineStart] !== tag) continue;
    const end = Math.min(pos, size);
    const last = ranges[ranges.length - 1];
    if (last && last.end === start) last.end = end;
    else ranges.push({ start, end });
  }
  return { ranges, covered: Math.min(pos, size) };
}

async function readRanges(fh: FileHandle, ranges: Range[]): Promise<Buffer> {
  const total = ranges.reduce((n, r) => n + (r.end - r.start), 0);
  const out = Buffer.alloc(total);
  let at = 0;
  for (const r of ranges) {
    const { bytesRead } = await fh.read(out, at, r.end - r.start, r.start);
    at += bytesRead;
  }
  return at === total ? out : out.subarray(0, at);
}

/** Enough bytes from the end of `ranges` to hold their last `lines` lines (possibly more). */
async function readTailBytes(fh: FileHandle, ranges: Range[], lines: number): Promise<Buffer> {
  const blocks: Buffer[] = [];
  let newlines = 0;
  for (let i = ranges.length - 1; i >= 0; i--) {
    const r = ranges[i]!;
    let end = r.end;
    while (end > r.start) {
      const start = Math.max(r.start, end - BLOCK);
      const block = Buffer.alloc(end - start);
      const { bytesRead } = await fh.read(block, 0, block.length, start);
      const got = block.subarray(0, bytesRead);
      blocks.unshift(got);
      for (const byte of got) if (byte === NEWLINE) newlines++;
      // One more newline than lines: the file's final newline does not start a line.
      if (newlines > lines) return Buffer.concat(blocks);
      end = start;
    }
  }
  return Buffer.concat(blocks);
}

/** The last `n` lines of `text`; a final newline ends the last line rather than starting one. */
export function lastLines(text: string, n: number): string {
  if (n <= 0) return '';
  let pos = text.endsWith('\n') ? text.length - 2 : text.length - 1;
  for (let found = 0; pos >= 0; ) {
    const nl = text.lastIndexOf('\n', pos);
    if (nl < 0) break;
    if (++found === n) return text.slice(nl + 1);
    pos = nl - 1;
  }
  return text;
}

const isContinuation = (byte: number | undefined) => byte !== undefined && (byte & 0xc0) === 0x80;

/** The largest cut point <= `limit` that does not split a UTF-8 character. */
function utf8PrefixEnd(buf: Buffer, limit: number): number {
  if (limit >= buf.length) return buf.length;
  let k = Math.max(0, limit);
  for (let back = 0; back < 3 && k > 0 && isContinuation(buf[k]); back++) k--;
  // Not UTF-8 after all: cut where asked.
  return isContinuation(buf[k]) ? limit : k;
}

/** Skips continuation bytes at the start of a buffer cut from a longer text. */
function utf8SuffixStart(buf: Buffer): number {
  let i = 0;
  while (i < 3 && i < buf.length && isContinuation(buf[i])) i++;
  return i;
}

/** The length of `buf` without a character still incomplete at its end. */
function utf8CompleteEnd(buf: Buffer): number {
  const len = buf.length;
  for (let i = len - 1; i >= 0 && i >= len - 4; i--) {
    const b = buf[i]!;
    if (isContinuation(b)) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return i + need > len ? i : len;
  }
  return len;
}
