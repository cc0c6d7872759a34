/**
 * At start: the data dir holds job definitions with their secrets, and the daemon (often root) writes in it.
 * A data dir, or a directory in it, owned by another user or writable by others could be swapped for a
 * link to anywhere, so the daemon refuses to start on one, and on a symbolic link in its top levels.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { WatchbellError } from '../jobs/errors.js';

/**
 * Throws STORE_UNAVAILABLE naming the first directory that is not the daemon's own, or the first link, with how
 * to fix it. Checks the data dir, the directories in it (`jobs`, `wal`) and what those hold: one lstat per
 * directory of the top two levels and one readdir each, so 100,000 jobs cost one readdir of `jobs`. Each job's
 * directory and its `logs` are checked when they are written in (safe-fs.ts, mkdirInside).
 */
export async function checkDataDirOwned(dir: string, uid = process.getuid?.()): Promise<void> {
  if (uid === undefined) return;
  const refuse = (why: string, fix: string) =>
    new WatchbellError('STORE_UNAVAILABLE', `data dir ${dir}: ${why}; refusing to start, as another user could make the daemon write anywhere. Fix: ${fix}`);
  const checkDir = async (d: string) => {
    const st = await lstat(d);
    if (st.isSymbolicLink()) throw refuse(`${d} is a symbolic link`, `remove it (rm ${d}) and restart`);
    if (st.uid !== uid) throw refuse(`${d} is owned by uid ${st.uid}, not by the daemon's user (uid ${uid})`, `chown -R ${uid} ${dir}, or run the daemon as its owner`);
    if (st.mode & 0o002) throw refuse(`${d} is writable by others (mode ${(st.mode & 0o777).toString(8)})`, `chmod -R o-w ${dir} (0700 is best)`);
  };
  const entries = async (d: string) => {
    const found = await readdir(d, { withFileTypes: true });
    for (const entry of found) {
      const path = join(d, entry.name);
      if (entry.isSymbolicLink()) throw refuse(`${path} is a symbolic link`, `remove it (rm ${path}) and restart`);
    }
    return found.filter((e) => e.isDirectory()).map((e) => join(d, e.name));
  };
  await checkDir(dir);
  for (const sub of await entries(dir)) {
    await checkDir(sub);
    await entries(sub);
  }
}
