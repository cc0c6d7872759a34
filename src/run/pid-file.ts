/**
 * Pid files: how a daemon started after a crash (`kill -9`, OOM, power loss) finds the processes the
 * dead daemon left running, so it can stop them (store/recover.ts does that side).
 *
 * The contract, which both sides rely on:
 * - While an attempt of execution `<eid>` of job `<job>` runs, the file `<store.logPath(job, eid)>.pid`
 *   (next to the log: `<data>/jobs/<job>/logs/<eid>.log.pid`) holds the attempt's process-group id as
 *   decimal text and a newline, e.g. `48213\n`. Attempts run detached, so the group id is the pid of
 *   the process watchbell spawned (`/bin/sh` for a string command).
 * - It is written synchronously right after the spawn, before the runner waits on the process:
 *   a crash at any later moment leaves it behind. The file itself is created (empty) just before the
 *   spawn, through the thread pool (createPidFile): creating a file cost the event loop ~0.5 ms a start on
 *   a busy disk, writing a few bytes into it once open costs ~5 us. A crash between the two leaves an empty
 *   file, which recovery reads as no pid (and its scan for the marker below still finds the processes).
 * - It is removed once the attempt is over: its first process has exited and, after a timeout or a
 *   cancel, its whole group has been stopped. Between retries there is none. Processes a job leaves
 *   running in the background after a normal exit are not tracked, as with cron.
 * - Every job process has `WATCHBELL_EXECUTION_ID=<eid>` in its environment (inherited by its
 *   children), so recovery can check in /proc/<pid>/environ that a pid still belongs to that
 *   execution before it kills anything: after a reboot or a long downtime the pid may be another
 *   program's.
 *
 * A pid file left behind by a crash is therefore a claim to verify, never proof.
 */
import { closeSync, open, unlinkSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { dirname } from 'node:path';
import { mkdirInside, WRITE_NO_FOLLOW } from '../store/safe-fs.js';

// One definition of the contract's names, in store/ (which must not import run/); the runner uses it.
export { EXECUTION_ID_ENV, pidFilePath } from '../store/orphans.js';

/** Removes a pid file; a missing one (its job was deleted meanwhile) is fine. */
export function removePidFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** A pid file created ahead of its spawn: `write` puts the pid in, `remove` deletes it and closes it. */
export interface PidFile {
  readonly path: string;
  /** Writes `pid` and a newline, synchronously. */
  write(pid: number): void;
  /** Removes the file (a missing one is fine) and closes it; throws the unlink's error after closing. */
  remove(): void;
}

const openFd = promisify(open);

/** Creates an empty pid file at `path` (and its directory if needed) off the event loop, for a spawn to come. */
export async function createPidFile(path: string): Promise<PidFile> {
  // A plain fd (not a FileHandle), used synchronously from here on: the pid must be in the file before anything awaits.
  // The logs dir and the job's dir (DATA_DIR/jobs/ID/logs) are made if needed and checked with lstat, and the file is
  // opened with O_NOFOLLOW: a link planted there must not make the daemon write where it points (docs/security.md).
  const logsDir = dirname(path);
  await mkdirInside(dirname(dirname(logsDir)), logsDir);
  const fd = await openFd(path, WRITE_NO_FOLLOW, 0o600);
  let closed = false;
  return {
    path,
    write(pid) {
      writeSync(fd, `${pid}\n`, 0);
    },
    remove() {
      if (closed) return;
      closed = true;
      try {
        removePidFile(path);
      } finally {
        closeSync(fd);
      }
    },
  };
}
