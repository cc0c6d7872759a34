/**
 * The embedded store's writes that take space on the disk, in one place, so a test can make the disk
 * fail under the store (test/store/store-fault-contract.ts fails it on the Nth write for every N).
 * Removals (rm, unlink) are not here: they free space, and a full disk does not refuse them.
 * Every write is private and never follows a link planted in the data dir (safe-fs.ts, docs/security.md).
 */
import { ftruncateSync, writeSync } from 'node:fs';
import { appendFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { WatchbellError } from '../jobs/errors.js';
import { APPEND_NO_FOLLOW, mkdirInside, writeFileNoFollow, writeTempFile } from './safe-fs.js';

/** Returns the error a write should fail with, or undefined to let it happen. `op` names the kind of write. */
export type WriteFault = (op: 'write' | 'append' | 'mkdir' | 'rename', path: string) => Error | undefined;

export class StoreDisk {
  constructor(private readonly fault?: WriteFault) {}

  /** Writes `path` whole (0600), never through a link. */
  async writeFile(path: string, data: string): Promise<void> {
    this.check('write', path);
    await writeFileNoFollow(path, data);
  }

  /** Appends to `path` (made 0600), never through a link. */
  async appendFile(path: string, data: string): Promise<void> {
    this.check('append', path);
    await appendFile(path, data, { mode: 0o600, flag: APPEND_NO_FOLLOW });
  }

  /** Makes the directory `path` (0700) and checks with lstat that it is a real one of ours, not a link. */
  async mkdir(path: string): Promise<void> {
    this.check('mkdir', path);
    await mkdirInside(dirname(path), path);
  }

  async rename(from: string, to: string): Promise<void> {
    this.check('rename', from);
    await rename(from, to);
  }

  /** Writes a whole file by a temp file renamed over it, so a crash or a full disk leaves the old one whole. */
  async replaceFile(path: string, data: string): Promise<void> {
    const tmp = join(dirname(path), `.${basename(path)}.tmp`);
    try {
      this.check('write', tmp);
      // Whatever is at the temp name (a crash's leftover, a planted link) goes; the file is made exclusively.
      await writeTempFile(tmp, data);
      await this.rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Appends `buf` at `size` (the file's length) through an open fd; synchronous. A write cut short
   * (a full disk) is cut back to `size`, so no part of it can be replayed as if it had been acknowledged.
   */
  appendSync(fd: number, buf: Buffer, size: number, path: string): void {
    try {
      this.check('append', path);
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      try {
        ftruncateSync(fd, size);
      } catch {
        // Cut short and not cut back: the caller must not append after the torn part (`torn` says so).
        throw Object.assign(err as Error, { torn: true });
      }
      throw err;
    }
  }

  private check(op: Parameters<WriteFault>[0], path: string): void {
    const err = this.fault?.(op, path);
    if (err) throw err;
  }
}

/** A failed write of the store, as the API answers it: 503, with what failed and why. */
export function writeFailed(what: string, cause: unknown): WatchbellError {
  // The code, not the message: that names paths inside the data dir, and this answer goes to API clients.
  const code = (cause as NodeJS.ErrnoException | null)?.code;
  const reason = code === 'ENOSPC' ? 'the disk is full (ENOSPC)' : (code ?? (cause instanceof Error ? cause.message : String(cause)));
  return new WatchbellError('STORE_UNAVAILABLE', `the store could not write ${what}: ${reason}; nothing of this change was applied`, { cause });
}
