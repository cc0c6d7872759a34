/**
 * At start: the data dir holds job definitions with their secrets, and the daemon (often root) writes in it.
 * A data dir, or any directory in it, owned by another user or writable by others could be swapped for a
 * link to anywhere, so the daemon refuses to start on one, and on any symbolic link inside it.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { WatchbellError } from '../jobs/errors.js';

/** Throws STORE_UNAVAILABLE naming the first directory that is not the daemon's own, or the first link, with how to fix it. */
export async function checkDataDirOwned(dir: string, uid = process.getuid?.()): Promise<void> {
  if (uid === undefined) return;
  const refuse = (why: string, fix: string) =>
    new WatchbellError('STORE_UNAVAILABLE', `data dir ${dir}: ${why}; refusing to start, as another user could make the daemon write anywhere. Fix: ${fix}`);
  const pending = [dir];
  while (pending.length) {
    const d = pending.pop()!;
    const st = await lstat(d);
    if (st.isSymbolicLink()) throw refuse(`${d} is a symbolic link`, `remove it (rm ${d}) and restart`);
    if (st.uid !== uid) throw refuse(`${d} is owned by uid ${st.uid}, not by the daemon's user (uid ${uid})`, `chown -R ${uid} ${dir}, or run the daemon as its owner`);
    if (st.mode & 0o002) throw refuse(`${d} is writable by others (mode ${(st.mode & 0o777).toString(8)})`, `chmod -R o-w ${dir} (0700 is best)`);
    // One readdir per directory, with the entries' types: no stat per file, so 100,000 logs stay cheap.
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isSymbolicLink()) throw refuse(`${path} is a symbolic link`, `remove it (rm ${path}) and restart`);
      if (entry.isDirectory()) pending.push(path);
    }
  }
}
