/** The data dir made (mode 0700) and proven writable before anything else touches it. */
import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { WatchbellError } from '../jobs/errors.js';

const DENIED = new Set(['EACCES', 'EPERM', 'EROFS']);

/**
 * Creates `dir` (0700) if missing and checks that this process can write in it. A dir it cannot write (a
 * volume or bind mount owned by another uid, a read-only mount) is a STORE_UNAVAILABLE error that says
 * which uid needs access, not an fs stack trace from whichever file came first.
 */
export async function prepareDataDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (!DENIED.has(code)) throw err;
    const ids = typeof process.getuid === 'function' ? `${process.getuid()}:${process.getgid!()}` : undefined;
    const fix = code === 'EROFS' ? 'mount it read-write' : ids ? `chown ${ids} ${dir}, or run as its owner` : 'give this user write access';
    throw new WatchbellError('STORE_UNAVAILABLE', `data dir ${dir} is not writable${ids ? ` by uid:gid ${ids}` : ''} (${code}): ${fix}`, { cause: err });
  }
}
