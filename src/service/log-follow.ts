/**
 * Following an execution's log while it runs (`GET .../log?follow=true`): `tail -n N -f` over the
 * log files of store/log-file.ts, ending by itself once the execution has ended and its log has
 * been read to the end.
 */
import { stat } from 'node:fs/promises';
import { lastLines, readLogSince, type OutputStream } from '../store/log-file.js';

/**
 * Between two reads of a growing log. Polling rather than fs.watch, because: each watcher is an
 * inotify instance, and the default limit (128 per user) is shared with everything else the
 * daemon's user runs, so a few dozen `curl -N` would exhaust it; inotify sees nothing on NFS and
 * on some container bind mounts, where a poll would be needed anyway; and a tick is cheap (open,
 * fstat, read of the new bytes, close). The end of the execution wakes the follow at once, so
 * the interval only bounds how late new output shows, never how late the response ends.
 */
export const FOLLOW_POLL_MS = 150;

/** First window read from the end of the log to find the last `tail` lines; it grows 4x until they fit. */
const TAIL_WINDOW = 64 * 1024;

/** The line that ends a follow cut short by the daemon's shutdown; the log itself goes on. */
export const SHUTDOWN_NOTE = '[watchbell] the daemon is shutting down; follow ended before the execution did\n';

export interface FollowLogOptions {
  /** The combined log (`<eid>.log`). */
  path: string;
  /** Only this stream's chunks; watchbell's own lines are left out, as in readLog. */
  stream?: OutputStream;
  /** Start from the last `tail` lines written so far (0: only new output) instead of the start. */
  tail?: number;
  /**
   * Resolves once the execution has ended and its log is closed, i.e. complete on disk. A
   * rejection (the runner does not know the execution) leaves `isEnded` to tell the end.
   */
  ended: Promise<unknown>;
  /** Checked every tick as well: true once the log is complete (the stored record says finished, or is gone). */
  isEnded: () => boolean;
  /** True once the daemon is shutting down: the follow ends with SHUTDOWN_NOTE. */
  stopping?: () => boolean;
  /** Aborted when the client goes away: the follow ends at once, leaving no timer or file open. */
  signal: AbortSignal;
  pollMs?: number;
}

/**
 * The log's text so far, then new text as it is written, until the execution has ended and the
 * log is read to the end. Each piece ends on a character boundary. Nothing is read ahead of the
 * consumer: a slow client holds the follow at its last read, not a growing buffer.
 */
export function followLog(options: FollowLogOptions): AsyncGenerator<string, void, undefined> {
  const state: { ended: boolean; wake?: () => void } = { ended: false };
  // Attached now, not when the generator first runs: a rejection nobody handles would stop the daemon.
  options.ended.then(
    () => {
      state.ended = true;
      state.wake?.();
    },
    () => {},
  );
  return follow(options, state);
}

async function* follow(o: FollowLogOptions, state: { ended: boolean; wake?: () => void }): AsyncGenerator<string, void, undefined> {
  const pollMs = o.pollMs ?? FOLLOW_POLL_MS;
  let offset = 0;
  let lastChar = '\n';
  if (o.tail !== undefined) {
    const start = await tailStart(o.path, o.stream, o.tail);
    offset = start.offset;
    if (start.text && !o.signal.aborted) {
      lastChar = start.text[start.text.length - 1]!;
      yield start.text;
    }
  }
  while (!o.signal.aborted) {
    // Noted before the read: a read that starts after the log was closed sees all of it.
    const last = state.ended || o.isEnded();
    const read = await readLogSince(o.path, { stream: o.stream, offset });
    offset = read.offset;
    if (o.signal.aborted) return;
    if (read.text) {
      lastChar = read.text[read.text.length - 1]!;
      yield read.text;
    }
    if (last) return;
    if (o.stopping?.()) {
      yield lastChar === '\n' ? SHUTDOWN_NOTE : `\n${SHUTDOWN_NOTE}`;
      return;
    }
    await pause(pollMs, o.signal, state);
  }
}

/** Waits `ms`, or less if the client goes away or the execution ends; clears what it set up. */
function pause(ms: number, signal: AbortSignal, state: { ended: boolean; wake?: () => void }): Promise<void> {
  if (signal.aborted || state.ended) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      state.wake = undefined;
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    state.wake = done;
  });
}

/**
 * The last `lines` lines written so far and the offset to follow on from. It reads a window from
 * the end, so it costs O(tail) rather than O(log); a window that starts mid-log must hold more
 * than `lines` line breaks, so that its first (possibly cut) line is not among those returned.
 */
async function tailStart(path: string, stream: OutputStream | undefined, lines: number): Promise<{ text: string; offset: number }> {
  const size = await sizeOf(path);
  if (lines <= 0) return { text: '', offset: size };
  for (let window = TAIL_WINDOW; ; window *= 4) {
    const from = Math.max(0, size - window);
    const read = await readLogSince(path, { stream, offset: from });
    const text = lastLines(read.text, lines);
    if (from === 0 || text.length < read.text.length) return { text, offset: read.offset };
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}
