/**
 * `--watch`: watches the folders of the config file and of its included files, and calls back once,
 * debounced, after changes stop. Folders, not files, are watched: editors and `git checkout` often
 * write a new file and rename it over the old one, and a watch on the old file would never fire again.
 */
import { existsSync, realpathSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join, parse, sep } from 'node:path';
import { isDynamicPattern } from 'tinyglobby';

/** Quiet time after the last change before the callback runs: editors save in several steps. */
export const WATCH_DEBOUNCE_MS = 500;

export interface WatchTargets {
  /** Absolute paths of the files read (the config file and its included files). */
  files: readonly string[];
  /** Absolute `include:` patterns: a file that starts to match one is a change too. */
  includes: readonly string[];
}

export interface ConfigWatcherOptions {
  /** Called after changes, once they have been quiet for `debounceMs`. */
  onChange(): void;
  /** A folder that cannot be watched (permissions, too many watches). */
  onError?(folder: string, error: unknown): void;
  debounceMs?: number;
}

interface Folder {
  path: string;
  /** Patterns such as `conf.d/**\/*.yaml` match below the folder's own entries. */
  recursive: boolean;
}

export class ConfigWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  private targets: WatchTargets = { files: [], includes: [] };
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: ConfigWatcherOptions) {}

  /** Watches the folders these targets live in from now on (watches of folders still wanted are kept). */
  update(targets: WatchTargets): void {
    this.targets = targets;
    this.arm(false);
  }

  /** Stops watching; idempotent. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  /** The folders being watched (for tests and logs). */
  folders(): string[] {
    return [...this.watchers.keys()];
  }

  /**
   * Watches the targets' folders. `fresh` re-creates every watch, as done after each change and
   * before the callback reads the files: a folder that was renamed away, or deleted and made again,
   * is a new inode, and a watch on the old one would stay silent. Otherwise watches still wanted are
   * kept, so no change is missed while they would be closed.
   */
  private arm(fresh: boolean): void {
    if (this.closed) return;
    const wanted = new Map<string, { at: string; recursive: boolean }>();
    for (const folder of foldersOf(this.targets)) {
      // A folder that does not exist yet (conf.d/ before its first file) is seen appearing from its parent.
      const at = nearestExisting(folder.path);
      const recursive = folder.recursive && at === folder.path;
      wanted.set(recursive ? join(at, '**') : at, { at, recursive });
    }
    for (const [key, w] of this.watchers) {
      if (fresh || !wanted.has(key)) {
        w.close();
        this.watchers.delete(key);
      }
    }
    for (const [key, { at, recursive }] of wanted) {
      if (this.watchers.has(key)) continue;
      try {
        const w = watch(at, { persistent: false, recursive }, () => this.changed());
        w.on('error', (err) => {
          // The folder went away: the next check re-arms on what exists then.
          this.o.onError?.(at, err);
          this.changed();
        });
        this.watchers.set(key, w);
      } catch (err) {
        this.o.onError?.(at, err);
      }
    }
  }

  private changed(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.arm(true);
      this.o.onChange();
    }, this.o.debounceMs ?? WATCH_DEBOUNCE_MS);
    this.timer.unref();
  }
}

/** The folders to watch: each file's (and its symlink target's), and the fixed part of each pattern. */
function foldersOf(targets: WatchTargets): Folder[] {
  const out = new Map<string, Folder>();
  const add = (path: string, recursive: boolean) => {
    const had = out.get(path);
    out.set(path, { path, recursive: recursive || (had?.recursive ?? false) });
  };
  for (const file of targets.files) {
    add(dirname(file), false);
    try {
      // A config file that is a symlink (a ConfigMap, a checkout elsewhere) changes where it points.
      const real = realpathSync(file);
      if (real !== file) add(dirname(real), false);
    } catch {
      // Gone for now; its folder's watch sees it come back.
    }
  }
  for (const pattern of targets.includes) {
    const parts = pattern.split(sep);
    const fixed = parts.findIndex((p) => isDynamicPattern(p));
    if (fixed === -1) {
      add(dirname(pattern), false);
      continue;
    }
    const base = parts.slice(0, fixed).join(sep) || sep;
    // `conf.d/*.yaml` needs conf.d only; `conf.d/*/jobs.yaml` or `conf.d/**/*.yaml` need what is below it too.
    add(base, parts.length - fixed > 1);
  }
  return [...out.values()];
}

function nearestExisting(path: string): string {
  let at = path;
  const root = parse(path).root;
  while (at !== root && !existsSync(at)) at = dirname(at);
  return at;
}
