/** One daemon per data dir: a `watchbell.pid` file holding the owner's pid. */
import { readFileSync } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { WatchbellError } from '../jobs/errors.js';

export const LOCK_FILE = 'watchbell.pid';

/**
 * Takes the data dir for this process, or throws DATA_DIR_LOCKED when a live process holds it.
 * A pid file left by a process that died (kill -9, power loss) is taken over. Returns the release.
 */
export async function acquireDataDirLock(dataDir: string): Promise<() => Promise<void>> {
  const dir = resolve(dataDir);
  const file = join(dir, LOCK_FILE);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Two rounds: the second follows the removal of a stale file.
  for (let round = 0; round < 2; round++) {
    if (await create(file)) return releaser(file);
    const holder = await readPid(file);
    if (holder === undefined) continue; // removed meanwhile by its owner
    if (holder !== null && holdsLock(holder, file)) {
      throw new WatchbellError(
        'DATA_DIR_LOCKED',
        `data dir ${dir} is in use by another watchbell (pid ${holder}); stop it first or use another --data dir`,
      );
    }
    // Re-read just before removing, so a daemon that took the file over meanwhile keeps it.
    if ((await readPid(file)) === holder) await rm(file, { force: true });
  }
  if (await create(file)) return releaser(file);
  const holder = await readPid(file);
  throw new WatchbellError(
    'DATA_DIR_LOCKED',
    `data dir ${dir} is in use by another watchbell (pid ${holder ?? 'unknown'}); stop it first or use another --data dir`,
  );
}

/** Creates the pid file if nobody has one; false when it exists. */
async function create(file: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await handle.writeFile(`${process.pid}\n`);
  } finally {
    await handle.close();
  }
  return true;
}

/** The pid in the file; null when the file holds no pid (torn by a crash); undefined when it is gone. */
async function readPid(file: string): Promise<number | null | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

/** Lock files this process holds, so a second acquire in the same process is refused too. */
const held = new Set<string>();

/**
 * Whether `pid`, named in the lock file, still holds it. After a reboot or a container restart the
 * pid in a stale file is often reused, by this very daemon (same small pid in a fresh namespace) or
 * by some other program; neither may keep the data dir locked forever.
 */
function holdsLock(pid: number, file: string): boolean {
  if (pid === process.pid) return held.has(file);
  if (!isAlive(pid)) return false;
  const cmdline = readCmdline(pid);
  // Without /proc we cannot tell, and taking a live daemon's data dir would corrupt it: assume held.
  return cmdline === null || /watchbell|node/.test(cmdline);
}

function readCmdline(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user, so it is alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function releaser(file: string): () => Promise<void> {
  held.add(file);
  let released: Promise<void> | undefined;
  return () => {
    released ??= (async () => {
      held.delete(file);
      // Only our own file: after a takeover it belongs to someone else.
      if ((await readPid(file)) === process.pid) await rm(file, { force: true });
    })();
    return released;
  };
}
