/**
 * A lowdb adapter like lowdb's JSONFile (same text, same `.NAME.tmp` renamed over the file), but the file is
 * 0600 and its temp file is made with O_EXCL | O_NOFOLLOW (safe-fs.ts): lowdb's writer creates it with the
 * process's umask (0644) and would write through a link planted at the temp name. One write at a time
 * (CoalescingWriter sees to it).
 */
import { readFile, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Adapter } from 'lowdb';
import { writeTempFile } from './safe-fs.js';

export class PrivateJSONFile<T> implements Adapter<T> {
  private readonly temp: string;

  constructor(private readonly file: string) {
    this.temp = join(dirname(file), `.${basename(file)}.tmp`);
  }

  /** The parsed file, or null when there is none. */
  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return JSON.parse(text) as T;
  }

  /** Writes the whole document: a new temp file, renamed over the old one. */
  async write(data: T): Promise<void> {
    await writeTempFile(this.temp, JSON.stringify(data, null, 2));
    await rename(this.temp, this.file);
  }
}
