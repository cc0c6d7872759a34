/** The data dir, first of the daemon's parts: made private, checked, and locked for this daemon alone. */
import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { acquireDataDirLock } from '../store/data-dir-lock.js';
import { checkDataDirOwned } from '../store/data-dir-owner.js';
import { prepareDataDir } from '../store/data-dir-writable.js';

/** Prepares and locks the data dir; returns the lock's release. */
export async function lockDataDir(dir: string, log: Logger): Promise<() => Promise<void>> {
  // The data dir holds job definitions with their environment values (secrets): only the daemon's user may read it.
  await prepareDataDir(dir);
  await checkDataDirOwned(dir);
  await warnIfDataDirOpen(dir, log);
  return acquireDataDirLock(dir);
}

/** Job definitions in the data dir hold environment values: warn when other users can read them. */
async function warnIfDataDirOpen(dir: string, log: Logger): Promise<void> {
  const mode = (await stat(dir)).mode & 0o777;
  if (mode & 0o007) {
    log.warn({ event: 'data_dir.permissions', data_dir: dir, mode: mode.toString(8) }, `data dir ${dir} has mode ${mode.toString(8)}: other users can read job definitions and their environment values; run chmod 700 on it`);
  }
}

