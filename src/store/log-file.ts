/**
 * The on-disk log of one execution, written by the runner and read by the API (through log-reader.ts).
 *
 * `<eid>.log` holds the combined output bytes in arrival order, so whole and tail reads need no
 * reassembly. `<eid>.log.idx` has one line per chunk, `o <bytes>` (stdout), `e <bytes>` (stderr)
 * or `w <bytes>` (a note of watchbell's own), which lets a reader pick one stream's chunks.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
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

/** The index file next to a log. */
export function indexPath(logPath: string): string {
  return `${logPath}.idx`;
}

const STREAM_TAG = { stdout: 'o', stderr: 'e' } as const;
const NEWLINE = 0x0a;

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
