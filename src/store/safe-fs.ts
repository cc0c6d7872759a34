/**
 * File-system calls for paths inside the data dir that never follow a symbolic link: files are opened with
 * O_NOFOLLOW (mode 0600), temp files with O_EXCL too, directories made 0700 and checked with lstat. A link
 * planted in the data dir (by a user who could write there) would otherwise make the daemon, maybe root,
 * write wherever it points (docs/security.md, The data dir).
 */
import { constants, lstatSync, mkdirSync } from 'node:fs';
import { lstat, mkdir, open, unlink } from 'node:fs/promises';
import { dirname, relative, sep } from 'node:path';

const { O_WRONLY, O_CREAT, O_TRUNC, O_APPEND, O_EXCL, O_NOFOLLOW } = constants;

/** open(2) flags: append to a file, created 0600 if missing, never through a link. */
export const APPEND_NO_FOLLOW = O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW;

/** open(2) flags: write a file from its start (truncated), created if missing, never through a link. */
export const WRITE_NO_FOLLOW = O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW;

/** Thrown when a path inside the data dir is a symbolic link or not what it should be. */
export class UnsafePathError extends Error {
  override readonly name = 'UnsafePathError';
  constructor(
    message: string,
    /** Like the errno a plain open would give: ELOOP (a link), ENOTDIR, EPERM (another owner, writable by others). */
    readonly code: 'ELOOP' | 'ENOTDIR' | 'EPERM',
  ) {
    // Spelled as Node's own fs errors are (`ENOTDIR: ...`), which messages quote.
    super(`${code}: ${message}`);
  }
}

/** Writes a new file at `path` (0600), refusing an existing one or a link there (O_EXCL | O_NOFOLLOW). */
export async function writeNewFile(path: string, data: string | Uint8Array): Promise<void> {
  const handle = await open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    await handle.writeFile(data);
  } finally {
    await handle.close();
  }
}

/**
 * Writes a temp file to be renamed over another: whatever is at `path` (a crash's leftover, or a planted
 * link, which unlink removes without touching its target) goes first, then the file is created exclusively.
 */
export async function writeTempFile(path: string, data: string | Uint8Array): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await writeNewFile(path, data);
}

/** Writes `path` (0600, truncated), never through a link at `path`. */
export async function writeFileNoFollow(path: string, data: string | Uint8Array): Promise<void> {
  const handle = await open(path, WRITE_NO_FOLLOW, 0o600);
  try {
    await handle.writeFile(data);
  } finally {
    await handle.close();
  }
}

/** Makes `dir` (0700) and any missing parent below `root`, and checks with lstat that each is a safe directory (checkDirectory). */
export async function mkdirInside(root: string, dir: string): Promise<void> {
  for (const p of between(root, dir)) {
    let st = await lstat(p).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
    if (!st) {
      // Recursive only to make `root` too when it is missing (the first time); its parents are not checked.
      await mkdir(p, { recursive: true, mode: 0o700 }).catch((err: NodeJS.ErrnoException) => (err.code === 'EEXIST' ? undefined : Promise.reject(err)));
      st = await lstat(p);
    }
    checkDirectory(p, st);
  }
}

/** mkdirInside(), synchronously: for the few callers that must have the directory before they return. */
export function mkdirInsideSync(root: string, dir: string): void {
  for (const p of between(root, dir)) {
    let st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) {
      try {
        mkdirSync(p, { recursive: true, mode: 0o700 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      st = lstatSync(p);
    }
    checkDirectory(p, st);
  }
}

/** `dir` and its parents up to (not including) `root`, outermost first; only `dir` when it is not below `root`. */
function between(root: string, dir: string): string[] {
  const rel = relative(root, dir);
  if (rel === '' || rel.startsWith('..')) return rel === '' ? [] : [dir];
  const parts = rel.split(sep);
  const out: string[] = [];
  let p = dir;
  for (let i = 0; i < parts.length; i++) {
    out.unshift(p);
    p = dirname(p);
  }
  return out;
}

/**
 * A directory on the way to a file written in the data dir must be a directory (not a link to one), owned by the
 * daemon's user or root, and writable by others only with the sticky bit (as /tmp): otherwise another user could
 * swap what is in it. The start checks only the data dir's top levels (a walk of 100,000 jobs' dirs took
 * seconds), so job and logs dirs are checked here, before anything is written in them.
 */
function checkDirectory(path: string, st: { isDirectory(): boolean; isSymbolicLink(): boolean; uid: number; mode: number }): void {
  if (st.isSymbolicLink()) throw new UnsafePathError(`${path} in the data dir is a symbolic link; refusing to use it (remove it, see docs/security.md)`, 'ELOOP');
  if (!st.isDirectory()) throw new UnsafePathError(`${path} in the data dir is not a directory`, 'ENOTDIR');
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid && st.uid !== 0) {
    throw new UnsafePathError(`${path} in the data dir is owned by uid ${st.uid}, not by the daemon's user (uid ${uid}); refusing to use it (chown it, see docs/security.md)`, 'EPERM');
  }
  if (st.mode & 0o002 && !(st.mode & 0o1000)) {
    throw new UnsafePathError(`${path} in the data dir is writable by others; refusing to use it (chmod o-w it, see docs/security.md)`, 'EPERM');
  }
}
