/**
 * Processes a dead daemon left running. While an attempt runs, the runner keeps its process-group id
 * in `<log>.pid`, and every job process carries `WATCHBELL_EXECUTION_ID=<eid>` in its environment.
 * After a crash, recovery stops the processes of each interrupted execution: those of the group in its
 * pid file, and any other live process carrying its marker (one that left the group with setsid, or
 * one started in the instant between the spawn and the pid file's write).
 *
 * The marker, read from /proc/<pid>/environ, is what makes a kill safe: a pid file's pid may since
 * have been reused by an unrelated program, which must never be signalled. Without /proc nothing is
 * killed, and the result says so.
 *
 * This lives in store/ (which must not import run/), so it has its own few lines of group signalling.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** The environment variable naming the execution a job process belongs to. */
export const EXECUTION_ID_ENV = 'WATCHBELL_EXECUTION_ID';

/** Where the runner keeps the process-group id of an execution's running attempt. */
export function pidFilePath(logPath: string): string {
  return `${logPath}.pid`;
}

/** One interrupted execution whose processes may still run. */
export interface OrphanCheck {
  jobId: string;
  executionId: string;
  /** Its pid file (pidFilePath of its log); it need not exist. */
  pidFile: string;
}

/**
 * - `none`: nothing of it runs (no pid file, or a stale one of a group that is gone).
 * - `stopped`: live processes carrying its marker were stopped.
 * - `not_ours`: the pid file names a live group without its marker (a reused pid); left alone.
 * - `unverified`: the pid file names a live group, but without /proc it cannot be verified; left alone.
 */
export type OrphanOutcome = 'none' | 'stopped' | 'not_ours' | 'unverified';

export interface OrphanResult {
  jobId: string;
  executionId: string;
  outcome: OrphanOutcome;
  /** The process-group id in the pid file (null when there was none); for `stopped` without one, the first group or pid stopped. */
  pid: number | null;
  /** The live processes signalled (for `stopped`): the members of its groups and its single processes. */
  pids: number[];
  /** True when some of them outlived SIGTERM's grace and got SIGKILL. */
  killed: boolean;
  /** False where /proc could not be read: then nothing was checked for markers, nor killed. */
  verified: boolean;
}

export interface StopOrphansOptions {
  /** Between SIGTERM and SIGKILL; default 10 s. */
  graceMs?: number;
  /** Where to read processes from; default /proc (tests point it elsewhere to act as a host without one). */
  procDir?: string;
}

/** How often a stop looks whether its targets are gone. */
const POLL_MS = 25;
/** How long after SIGKILL to wait for the processes to be gone before reporting anyway. */
const KILL_WAIT_MS = 2000;

interface ProcInfo {
  pid: number;
  pgid: number;
  zombie: boolean;
  /** The value of its marker; null without one; undefined when its environment could not be read. */
  executionId: string | null | undefined;
}

/** A group (`-pgid`) or a single process to stop. */
interface Target {
  group: boolean;
  id: number;
}

/**
 * Stops the leftover processes of interrupted executions (all at once, so the whole takes one grace
 * at most) and removes their pid files. Never throws for a process it could not signal.
 */
export async function stopOrphans(checks: readonly OrphanCheck[], options: StopOrphansOptions = {}): Promise<OrphanResult[]> {
  const graceMs = options.graceMs ?? 10_000;
  const procDir = options.procDir ?? '/proc';
  const filePids = await Promise.all(checks.map((c) => readPidFile(c.pidFile)));
  const table = readProcTable(procDir, new Set(checks.map((c) => c.executionId)));

  const results: OrphanResult[] = [];
  const targets = new Map<string, Target>();
  checks.forEach((check, i) => {
    const filePid = filePids[i] ?? null;
    const base = { jobId: check.jobId, executionId: check.executionId, pid: filePid, pids: [] as number[], killed: false, verified: table !== null };
    if (table === null) {
      // Nothing can be verified, so nothing is killed; a live group is reported.
      results.push({ ...base, outcome: filePid !== null && groupExists(filePid) ? 'unverified' : 'none' });
      return;
    }
    const mine = table.filter((p) => !p.zombie && p.executionId === check.executionId);
    const own: Target[] = [];
    let foreign = false;
    if (filePid !== null) {
      const members = table.filter((p) => !p.zombie && p.pgid === filePid);
      // A group id cannot be reused while a member lives, so one marked member makes the whole group ours.
      if (members.some((p) => p.executionId === check.executionId)) own.push({ group: true, id: filePid });
      else if (members.length > 0) foreign = true;
    }
    for (const p of mine) {
      if (own.some((t) => t.group && t.id === p.pgid)) continue;
      // A group found by its marker is signalled whole only when every live member carries the marker.
      const members = table.filter((q) => !q.zombie && q.pgid === p.pgid);
      const whole = members.every((q) => q.executionId === check.executionId);
      own.push(whole ? { group: true, id: p.pgid } : { group: false, id: p.pid });
    }
    if (own.length === 0) {
      results.push({ ...base, outcome: foreign ? 'not_ours' : 'none' });
      return;
    }
    for (const t of own) targets.set(key(t), t);
    const pids = table.filter((p) => !p.zombie && own.some((t) => (t.group ? p.pgid === t.id : p.pid === t.id))).map((p) => p.pid);
    results.push({ ...base, outcome: 'stopped', pid: filePid ?? own[0]!.id, pids });
  });

  // Never our own process or group, whatever a pid file says (after a reboot it may name this very daemon).
  const self = readStat(procDir, process.pid);
  for (const [k, t] of targets) if (t.id === process.pid || (t.group && t.id === self?.pgid)) targets.delete(k);
  const killed = await stopTargets([...targets.values()], graceMs, procDir);
  for (const r of results) {
    if (r.outcome === 'stopped') r.killed = r.pids.some((pid) => killed.has(pid));
  }
  await Promise.all(checks.map((c) => rm(c.pidFile, { force: true })));
  return results;
}

function key(t: Target): string {
  return `${t.group ? 'g' : 'p'}${t.id}`;
}

/** The pid in a pid file; null when the file is missing or holds no pid (torn by the crash). */
async function readPidFile(file: string): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  // pid 1 and below would signal init or every process we may reach: never from a file.
  return Number.isSafeInteger(pid) && pid > 1 ? pid : null;
}

/**
 * Every process with its group, whether it is a zombie, and its marker when the marker is one of
 * `wanted`; null when `procDir` cannot be read.
 */
function readProcTable(procDir: string, wanted: ReadonlySet<string>): ProcInfo[] | null {
  let entries: string[];
  try {
    entries = readdirSync(procDir);
  } catch {
    return null;
  }
  const table: ProcInfo[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const stat = readStat(procDir, pid);
    if (!stat) continue; // exited while we looked
    let executionId: string | null | undefined;
    if (!stat.zombie) {
      try {
        executionId = markerOf(readFileSync(`${procDir}/${pid}/environ`, 'latin1'), wanted);
      } catch {
        executionId = undefined;
      }
    }
    table.push({ pid, pgid: stat.pgid, zombie: stat.zombie, executionId });
  }
  return table;
}

function readStat(procDir: string, pid: number): { pgid: number; zombie: boolean } | null {
  let stat: string;
  try {
    stat = readFileSync(`${procDir}/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses; the fields after its last ')' are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const pgid = Number(fields[2]);
  if (!Number.isSafeInteger(pgid)) return null;
  return { pgid, zombie: fields[0] === 'Z' || fields[0] === 'X' };
}

/** The marker's value in a NUL-separated environment, when it is one of `wanted`; else null. */
function markerOf(environ: string, wanted: ReadonlySet<string>): string | null {
  const prefix = `${EXECUTION_ID_ENV}=`;
  for (const entry of environ.split('\0')) {
    if (entry.startsWith(prefix)) {
      const value = entry.slice(prefix.length);
      return wanted.has(value) ? value : null;
    }
  }
  return null;
}

/** True when some process has `pgid` as its group (zombies included). */
function groupExists(pgid: number): boolean {
  return exists({ group: true, id: pgid });
}

/** True when the target has a process (zombies included). */
function exists(t: Target): boolean {
  try {
    process.kill(t.group ? -t.id : t.id, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * SIGTERM to every target, SIGKILL to those still alive after `graceMs`, then a short wait for them
 * to be gone. Resolves with the pids that needed SIGKILL.
 */
async function stopTargets(targets: Target[], graceMs: number, procDir: string): Promise<Set<number>> {
  const killed = new Set<number>();
  if (targets.length === 0) return killed;
  for (const t of targets) signal(t, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  let alive = liveProcesses(targets, procDir);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(Math.min(POLL_MS, Math.max(1, deadline - Date.now())));
    alive = liveProcesses(targets, procDir);
  }
  if (alive.length === 0) return killed;
  for (const pid of alive) killed.add(pid);
  for (const t of targets) signal(t, 'SIGKILL');
  // SIGKILL cannot be caught, but the kernel takes a moment; report once they are gone (or zombies).
  const killDeadline = Date.now() + KILL_WAIT_MS;
  while (liveProcesses(targets, procDir).length > 0 && Date.now() < killDeadline) await sleep(POLL_MS);
  return killed;
}

function signal(t: Target, sig: NodeJS.Signals): void {
  try {
    process.kill(t.group ? -t.id : t.id, sig);
  } catch {
    // Gone already (ESRCH), or a member changed user (EPERM): the others got it.
  }
}

/** The pids, among the targets, of processes still alive (not zombies). */
function liveProcesses(targets: Target[], procDir: string): number[] {
  // A signal 0 answers for most targets without reading /proc: a group with no process left at all is gone.
  const existing = targets.filter((t) => exists(t));
  if (existing.length === 0) return [];
  const groups = new Set(existing.filter((t) => t.group).map((t) => t.id));
  const singles = new Set(existing.filter((t) => !t.group).map((t) => t.id));
  let entries: string[];
  try {
    entries = readdirSync(procDir);
  } catch {
    return [];
  }
  const alive: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (!singles.has(pid) && groups.size === 0) continue;
    const stat = readStat(procDir, pid);
    if (stat && !stat.zombie && (singles.has(pid) || groups.has(stat.pgid))) alive.push(pid);
  }
  return alive;
}
