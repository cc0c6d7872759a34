/**
 * While a job execs into a container, `<log>.exec.json` names the container and the process group the exec
 * leads, so that a daemon restarted after a crash can find and stop it (see leftovers.ts): the engine does
 * not stop an exec'd process when the client that started it dies. Containers watchbell creates need no
 * such file: their labels say whose they are.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

export interface ExecRecord {
  /** The container's name or id, as the job names it. */
  container: string;
  /** The process group id inside the container. */
  pid: number;
  /** The user the exec ran as (null: the container's), who may signal it. */
  user: string | null;
}

/** Where an execution's exec record is kept, beside its log. */
export function execRecordPath(logPath: string): string {
  return `${logPath}.exec.json`;
}

/** Writes the record (synchronously: it must be on disk before anything awaits). */
export function writeExecRecord(path: string, record: ExecRecord): void {
  writeFileSync(path, JSON.stringify(record), { mode: 0o600 });
}

/** The record at `path`, or null when there is none or it is torn (a crash while writing). */
export function readExecRecord(path: string): ExecRecord | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
  const r = parsed as Partial<ExecRecord> | null;
  // pid 1 is the container's init: never a group watchbell started.
  if (!r || typeof r.container !== 'string' || !Number.isSafeInteger(r.pid) || r.pid! <= 1) return null;
  return { container: r.container, pid: r.pid!, user: typeof r.user === 'string' ? r.user : null };
}

/** Removes the record; a missing one is fine. */
export function removeExecRecord(path: string): void {
  rmSync(path, { force: true });
}
