/**
 * Following an execution's log while it runs (`GET .../log?follow=true`): `tail -n N -f` over the
 * log files of store/log-file.ts, ending by itself once the execution has ended and its log has
 * been read to the end. The reading itself is store/log-reader.ts's, the same as a plain read's.
 */
import type { OutputStream } from '../store/log-file.js';
import { LogCursor } from '../store/log-reader.js';

/**
 * Between two reads of a growing log. Polling rather than fs.watch, because: each watcher is an
 * inotify instance, and the default limit (128 per user) is shared with everything else the
 * daemon's user runs, so a few dozen `curl -N` would exhaust it; inotify sees nothing on NFS and
 * on some container bind mounts, where a poll would be needed anyway; and a tick is cheap (open,
 * fstat, read of the new bytes, close). The end of the execution wakes the follow at once, so
 * the interval only bounds how late new output shows, never how late the response ends.
 */
export const FOLLOW_POLL_MS = 150;

/** The line that ends a follow cut short by the daemon's shutdown; the log itself goes on. */
export const SHUTDOWN_NOTE = '[watchbell] the daemon is shutting down; follow ended before the execution did\n';

export interface FollowLogOptions {
  /** The combined log (`<eid>.log`). */
  path: string;
  /** Only this stream's chunks; watchbell's own lines are left out, as in a plain read. */
  stream?: OutputStream;
  /** Only this step's part (store/log-steps.ts). */
  step?: string;
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
 * The log's bytes so far, then new bytes as they are written, until the execution has ended and the log is
 * read to the end; in chunks of at most 64 KiB (store/log-reader.ts), passed through undecoded. Nothing is
 * read ahead of the consumer: a slow client holds the follow at its place in the file, not a growing buffer.
 */
export function followLog(options: FollowLogOptions): AsyncGenerator<Buffer, void, undefined> {
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

async function* follow(o: FollowLogOptions, state: { ended: boolean; wake?: () => void }): AsyncGenerator<Buffer, void, undefined> {
  const pollMs = o.pollMs ?? FOLLOW_POLL_MS;
  const cursor = new LogCursor(o.path, o.stream, o.step);
  if (o.tail !== undefined) await cursor.seekTail(o.tail);
  while (!o.signal.aborted) {
    // Noted before the read: a read that starts after the log was closed sees all of it.
    const last = state.ended || o.isEnded();
    for await (const chunk of cursor.readAvailable(o.signal)) {
      if (o.signal.aborted) return;
      yield chunk;
    }
    if (o.signal.aborted || last) return;
    if (o.stopping?.()) {
      yield Buffer.from(cursor.lastByte === undefined || cursor.lastByte === 0x0a ? SHUTDOWN_NOTE : `\n${SHUTDOWN_NOTE}`);
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
 * A follow read from another node (cluster mode), ended with SHUTDOWN_NOTE when this daemon shuts down, as
 * a local follow is; the other node's own end (the execution's, or its shutdown note) passes through.
 * Leaving stops the read from the other node (its response is destroyed).
 */
export async function* endAtShutdown(source: AsyncIterable<Buffer>, stopping: () => boolean, pollMs = FOLLOW_POLL_MS): AsyncGenerator<Buffer, void, undefined> {
  const it = source[Symbol.asyncIterator]();
  let lastByte: number | undefined;
  let next = it.next();
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<'tick'>((resolve) => (timer = setTimeout(resolve, pollMs, 'tick')));
      const got = await Promise.race([next, tick]);
      clearTimeout(timer);
      if (got === 'tick') {
        if (!stopping()) continue;
        yield Buffer.from(lastByte === undefined || lastByte === 0x0a ? SHUTDOWN_NOTE : `\n${SHUTDOWN_NOTE}`);
        return;
      }
      if (got.done) return;
      lastByte = got.value.at(-1);
      yield got.value;
      next = it.next();
    }
  } finally {
    // A read still pending settles (done, or the destroyed response's error) with nobody waiting on it.
    next.catch(() => undefined);
    void it.return?.()?.catch(() => undefined);
  }
}
