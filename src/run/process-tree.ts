/**
 * Process groups: every attempt runs detached as its own group, so stopping the group stops the whole tree.
 *
 * Whether a stopped group is gone is looked up by one watcher for all groups: every POLL_MS it runs a single
 * asynchronous pass over the groups being stopped, reading /proc through the thread pool. 300 groups timing
 * out at once used to mean 300 synchronous scans of every /proc/N/stat each 25 ms, which held the event loop
 * for seconds (issue 13).
 */
import { readdir, readFile } from 'node:fs/promises';

/** How often the watcher looks whether stopped groups are gone, so a stop returns early instead of always waiting the grace. */
const POLL_MS = 25;
/** /proc/N/stat files read at once in a full scan: enough to keep the thread pool busy, not to queue thousands. */
const SCAN_PARALLEL = 16;

/**
 * SIGTERM to the process group `pid`, then SIGKILL to the group if any of it is still alive after
 * `graceMs`. Resolves once the group is gone, or right after the SIGKILL.
 */
export async function stopProcessGroup(pid: number, graceMs: number): Promise<void> {
  if (!signalGroup(pid, 'SIGTERM')) return;
  if (await whenGone(pid, graceMs)) return;
  signalGroup(pid, 'SIGKILL');
}

/**
 * True while a process of group `pid` is alive. Zombies do not count: under an init that does not
 * reap orphans (a container's PID 1 without --init), dead grandchildren stay in the group as zombies,
 * and `kill(-pid, 0)` alone would report them alive forever.
 */
export async function isGroupAlive(pid: number): Promise<boolean> {
  return (await aliveGroups([pid])).has(pid);
}

interface Watch {
  pid: number;
  deadline: number;
  resolve: (gone: boolean) => void;
}

const watches = new Set<Watch>();
let watcher: NodeJS.Timeout | undefined;

/** Resolves true once group `pid` is gone, false when it is still alive after `ms`. */
function whenGone(pid: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    watches.add({ pid, deadline: performance.now() + ms, resolve });
    watcher ??= setTimeout(watchTick, Math.min(POLL_MS, ms));
  });
}

/** One pass for every group being stopped; the next pass is timed from the end of this one, so passes never overlap. */
async function watchTick(): Promise<void> {
  const current = [...watches];
  let alive: Set<number>;
  try {
    alive = await aliveGroups([...new Set(current.map((w) => w.pid))]);
  } catch {
    // Cannot tell (e.g. an unexpected kill error): count them alive; the deadline still ends each wait.
    alive = new Set(current.map((w) => w.pid));
  }
  const now = performance.now();
  for (const w of current) {
    if (!alive.has(w.pid)) w.resolve(true);
    else if (now >= w.deadline) w.resolve(false);
    else continue;
    watches.delete(w);
  }
  if (watches.size === 0) {
    watcher = undefined;
    return;
  }
  const soonest = Math.min(...[...watches].map((w) => w.deadline));
  watcher = setTimeout(watchTick, Math.max(1, Math.min(POLL_MS, soonest - performance.now())));
}

/**
 * The groups of `pgids` with a live (non-zombie) member. kill(-g, 0) rules out most; a group whose leader is
 * alive needs one /proc read; only groups whose leader is gone but which kill still finds (orphans, zombies)
 * need the full /proc scan, done once for all of them.
 */
async function aliveGroups(pgids: number[]): Promise<Set<number>> {
  const alive = new Set<number>();
  const unsure: number[] = [];
  for (const pgid of pgids) {
    try {
      process.kill(-pgid, 0);
    } catch (err) {
      if (errorCode(err) === 'ESRCH') continue;
      // EPERM: a member we may not signal (it changed user); it is alive all the same.
      if (errorCode(err) !== 'EPERM') throw err;
    }
    unsure.push(pgid);
  }
  const leaders = await Promise.all(unsure.map((pgid) => readStat(pgid)));
  const scan: number[] = [];
  unsure.forEach((pgid, i) => {
    const leader = leaders[i];
    if (leader === null) alive.add(pgid); // no /proc: kill's answer is all there is
    else if (leader !== undefined && leader.pgrp === pgid && leader.state !== 'Z') alive.add(pgid);
    else scan.push(pgid);
  });
  if (scan.length > 0) {
    const live = await groupsWithLiveMembers();
    for (const pgid of scan) if (live === null || live.has(pgid)) alive.add(pgid);
  }
  return alive;
}

/** State letter and process group of /proc/PID/stat; undefined when the process is gone, null without /proc. */
async function readStat(pid: number): Promise<{ state: string; pgrp: number } | undefined | null> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ESRCH') return (await hasProc()) ? undefined : null;
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses; fields after its last ')' are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, pgrp: Number(fields[2]) };
}

let procMounted: boolean | undefined;
async function hasProc(): Promise<boolean> {
  if (procMounted === undefined) {
    try {
      await readFile('/proc/self/stat');
      procMounted = true;
    } catch {
      procMounted = false;
    }
  }
  return procMounted;
}

/** Process groups with a member that is not a zombie, from one pass over /proc; null where there is no /proc. */
async function groupsWithLiveMembers(): Promise<Set<number> | null> {
  let entries: string[];
  try {
    entries = (await readdir('/proc')).filter((e) => /^\d+$/.test(e));
  } catch {
    return null;
  }
  const live = new Set<number>();
  for (let i = 0; i < entries.length; i += SCAN_PARALLEL) {
    const stats = await Promise.all(entries.slice(i, i + SCAN_PARALLEL).map((e) => readStat(Number(e))));
    for (const s of stats) if (s && s.state !== 'Z') live.add(s.pgrp);
  }
  return live;
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
    process.on('exit', () => void killLiveGroups());
  }
}

/** Forgets a group that ended or was stopped. */
export function untrackGroup(pid: number): void {
  liveGroups.delete(pid);
}

/**
 * SIGKILLs every group still running, at once: at exit (a crash), and when a cluster node's lease ends while
 * it still runs something (fencing: another node may take those executions over).
 */
export function killLiveGroups(): number {
  // Only synchronous work is possible in 'exit', so there is no grace here: the graceful path is Runner.shutdown.
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const killed = liveGroups.size;
  liveGroups.clear();
  return killed;
}
