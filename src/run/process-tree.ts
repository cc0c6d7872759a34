/** Process groups: every attempt runs detached as its own group, so stopping the group stops the whole tree. */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** How often a stop looks whether the group is gone, so it returns early instead of always waiting the grace. */
const POLL_MS = 25;

/**
 * SIGTERM to the process group `pid`, then SIGKILL to the group if any of it is still alive after
 * `graceMs`. Resolves once the group is gone, or right after the SIGKILL.
 */
export async function stopProcessGroup(pid: number, graceMs: number): Promise<void> {
  if (!signalGroup(pid, 'SIGTERM')) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isGroupAlive(pid)) return;
    await sleep(Math.min(POLL_MS, Math.max(1, deadline - Date.now())));
  }
  if (isGroupAlive(pid)) signalGroup(pid, 'SIGKILL');
}

/**
 * True while a process of group `pid` is alive. Zombies do not count: under an init that does not
 * reap orphans (a container's PID 1 without --init), dead grandchildren stay in the group as zombies,
 * and `kill(-pid, 0)` alone would report them alive forever.
 */
export function isGroupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
  } catch (err) {
    if (errorCode(err) === 'ESRCH') return false;
    // EPERM: a member we may not signal (it changed user); it is alive all the same.
    if (errorCode(err) !== 'EPERM') throw err;
  }
  const members = linuxGroupMembers(pid);
  return members === null || members.some((m) => m.state !== 'Z');
}

/** Sends `signal` to the group; false when the group is already gone. */
function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (err) {
    if (errorCode(err) === 'ESRCH') return false;
    // EPERM on a group we started means a member changed user; the others got the signal.
    if (errorCode(err) === 'EPERM') return true;
    throw err;
  }
}

/** The processes of group `pgid` with their state letter, from /proc; null where there is no /proc. */
function linuxGroupMembers(pgid: number): { pid: number; state: string }[] | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  const members: { pid: number; state: string }[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // The command name (field 2) may hold spaces and parentheses; fields after its last ')' are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid) members.push({ pid: Number(entry), state: fields[0]! });
  }
  return members;
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

const liveGroups = new Set<number>();
let exitHookInstalled = false;

/**
 * Remembers a running group so that, should the daemon exit without stopping it (a crash), the group
 * is killed rather than left running unsupervised. execa's own `cleanup` does nothing for detached children.
 */
export function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', killLiveGroups);
  }
}

/** Forgets a group that ended or was stopped. */
export function untrackGroup(pid: number): void {
  liveGroups.delete(pid);
}

function killLiveGroups(): void {
  // Only synchronous work is possible in 'exit', so there is no grace here: the graceful path is Runner.shutdown.
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  liveGroups.clear();
}
