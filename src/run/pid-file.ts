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
 *   a crash at any later moment leaves it behind.
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
import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

// One definition of the contract's names, in store/ (which must not import run/); the runner uses it.
export { EXECUTION_ID_ENV, pidFilePath } from '../store/orphans.js';

/** Writes `pid` and a newline to `path`, creating its directory if needed; synchronous on purpose (see above). */
export function writePidFile(path: string, pid: number): void {
  const text = `${pid}\n`;
  try {
    writeFileSync(path, text);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    // The log writer normally made the dir already; only an unusual LogSink leaves it missing.
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
}

/** Removes a pid file; a missing one (its job was deleted meanwhile) is fine. */
export function removePidFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
