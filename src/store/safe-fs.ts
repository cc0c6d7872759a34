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

/** Thrown when a path inside the data dir is a symbolic link or not what it should be. */
export class UnsafePathError extends Error {
  override readonly name = 'UnsafePathError';
  readonly code = 'ELOOP';
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
  const handle = await open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o600);
  try {
    await handle.writeFile(data);
  } finally {
    await handle.close();
  }
}

/** Makes `dir` (0700) and any missing parent below `root`, and checks with lstat that none of them is a link. */
export async function mkdirInside(root: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const p of between(root, dir)) checkDirectory(p, await lstat(p));
}

/** mkdirInside(), synchronously: for the few callers that must have the directory before they return. */
export function mkdirInsideSync(root: string, dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const p of between(root, dir)) checkDirectory(p, lstatSync(p));
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

function checkDirectory(path: string, st: { isDirectory(): boolean; isSymbolicLink(): boolean }): void {
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new UnsafePathError(`${path} in the data dir is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; refusing to use it (remove it, see docs/security.md)`);
  }
}
