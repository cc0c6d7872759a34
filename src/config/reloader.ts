/**
 * Config reloads (SIGHUP, POST /api/v1/config/reload, `--watch`): one at a time, an invalid config
 * changes nothing, and what /health shows about the config is kept here.
 */
import { WatchbellError } from '../jobs/errors.js';
import type { Events, ReloadTrigger } from '../jobs/events.js';
import { ConfigWatcher, type WatchTargets } from './config-watcher.js';
import { ConfigError, formatProblem, type Config, type ConfigSources } from './load-config.js';
import type { DaemonSettings } from './settings.js';

/** Job ids by what a reload did to them (sorted). */
export interface ConfigDiff {
  added: string[];
  changed: string[];
  removed: string[];
}

export interface ReloadResult extends ConfigDiff {
  /** `FILE:LINE:COL: message` lines worth the author's attention (an include pattern matching no file). */
  warnings: string[];
}

/** The `config` part of /health. */
export interface ConfigStatus {
  /** The config file (absolute). */
  file: string;
  /** Files read with it through `include:` (absolute). */
  included: string[];
  /** When the running config was loaded: at start or by the last successful reload. */
  loaded_at: string;
  /** When a reload was last tried, successful or not; null before the first. */
  last_reload: string | null;
  /** The problems of the last reload, one `FILE:LINE:COL: message` a line, until a good config is loaded; else null. */
  last_error: string | null;
  /** True when changes to the files are reloaded by themselves (`--watch`). */
  watch: boolean;
}

export interface ConfigReloaderOptions {
  /** The config the daemon started with. */
  config: Config;
  /** Reads the config again (the same file and flags as at start). */
  load(): Promise<Config>;
  /** Applies a valid config as a diff; throws (changing nothing) when it cannot, e.g. an id taken by an API job. */
  apply(config: Config): Promise<ConfigDiff>;
  events: Events;
  /** Watch the files and reload on changes. */
  watch: boolean;
  debounceMs?: number;
  now?: () => Date;
}

export class ConfigReloader {
  private running: Config;
  /** Reloads run one after another: a SIGHUP during an API reload waits for it. */
  private queue: Promise<unknown> = Promise.resolve();
  private loadedAt: Date;
  private lastReload: Date | null = null;
  private lastError: string | null = null;
  /** The files as last read (undefined when they could not be); a change seen by the watcher that leaves them the same is ignored. */
  private lastDigest: string | undefined;
  private lastAttempt: ConfigSources | undefined;
  private watcher: ConfigWatcher | undefined;
  private readonly o: ConfigReloaderOptions;

  constructor(options: ConfigReloaderOptions) {
    this.o = options;
    this.running = options.config;
    this.loadedAt = this.now();
    this.lastDigest = options.config.sources.digest;
  }

  /** The config in force. */
  get config(): Config {
    return this.running;
  }

  /** Reports the started config's warnings and starts watching when asked to. */
  start(): void {
    this.warn(this.running);
    if (!this.o.watch) return;
    this.watcher = new ConfigWatcher({
      debounceMs: this.o.debounceMs,
      onChange: () => {
        this.reload('watch').catch(() => undefined); // reported by the config:reload_failed event
      },
      onError: (folder, error) => this.o.events.emit('error', { where: `watching ${folder} for config changes`, error }),
    });
    this.watcher.update(this.watchTargets());
  }

  /** Stops watching; idempotent. */
  close(): void {
    this.watcher?.close();
  }

  /**
   * Reads the config again and applies it as a diff. Rejects with a ConfigError (or the error that
   * stopped the apply) and keeps the running config when the files are invalid. A reload started
   * by the watcher does nothing when the files read are the same as last time.
   */
  reload(trigger: ReloadTrigger): Promise<ReloadResult> {
    const run = this.queue.then(() => this.reloadNow(trigger));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** What /health shows. */
  status(): ConfigStatus {
    return {
      file: this.running.file,
      included: this.running.sources.files.slice(1),
      loaded_at: this.loadedAt.toISOString(),
      last_reload: this.lastReload?.toISOString() ?? null,
      last_error: this.lastError,
      watch: this.watcher !== undefined,
    };
  }

  private async reloadNow(trigger: ReloadTrigger): Promise<ReloadResult> {
    let next: Config;
    try {
      next = await this.o.load();
    } catch (err) {
      const sources = err instanceof ConfigError ? err.sources : undefined;
      // The same broken files seen again by the watcher: already reported.
      if (trigger === 'watch' && sources && sources.digest === this.lastDigest) throw err;
      this.lastAttempt = sources;
      this.lastDigest = sources?.digest;
      this.failed(trigger, err);
      throw err;
    }
    if (trigger === 'watch' && next.sources.digest === this.lastDigest) {
      this.rearm();
      return { added: [], changed: [], removed: [], warnings: [] };
    }
    this.lastAttempt = next.sources;
    this.lastDigest = next.sources.digest;
    let diff: ConfigDiff;
    try {
      const applied = await this.o.apply(next);
      diff = { added: [...applied.added].sort(), changed: [...applied.changed].sort(), removed: [...applied.removed].sort() };
    } catch (err) {
      this.failed(trigger, err);
      throw err;
    }
    const restartNeeded = changedSettings(this.running.daemon, next.daemon);
    // The daemon keeps the settings it started with; they take effect at the next restart.
    // Without its jobs: the job service holds those.
    this.running = { ...next, jobs: [], daemon: this.running.daemon };
    this.lastReload = this.now();
    this.loadedAt = this.lastReload;
    this.lastError = null;
    this.rearm();
    this.o.events.emit('config:reloaded', { file: next.file, trigger, jobs: next.jobs.length, ...diff, restartNeeded });
    const warnings = this.warn(next);
    return { ...diff, warnings };
  }

  private failed(trigger: ReloadTrigger, err: unknown): void {
    const errors = problemLines(err);
    this.lastReload = this.now();
    this.lastError = errors.join('\n');
    this.rearm();
    this.o.events.emit('config:reload_failed', { file: this.running.file, trigger, errors });
  }

  private warn(config: Config): string[] {
    const lines = config.warnings.map(formatProblem);
    for (const warning of lines) this.o.events.emit('config:warning', { file: config.file, warning });
    return lines;
  }

  /** Watches the running config's files and those of the last attempt (a broken new include must be seen when fixed). */
  private rearm(): void {
    this.watcher?.update(this.watchTargets());
  }

  private watchTargets(): WatchTargets {
    const files = new Set(this.running.sources.files);
    const includes = new Set(this.running.sources.includes);
    for (const f of this.lastAttempt?.files ?? []) files.add(f);
    for (const p of this.lastAttempt?.includes ?? []) includes.add(p);
    // The config file itself, even when unreadable: its folder's watch sees it come back.
    files.add(this.running.file);
    return { files: [...files], includes: [...includes] };
  }

  private now(): Date {
    return this.o.now ? this.o.now() : new Date();
  }
}

/** Each problem of a failed reload as a `FILE:LINE:COL: message` line (or the error's message). */
export function problemLines(err: unknown): string[] {
  if (err instanceof ConfigError) return err.problems.map(formatProblem);
  if (err instanceof WatchbellError && err.details?.length) return err.details.map((d) => d.message);
  return [(err as Error)?.message ?? String(err)];
}

/** `daemon:` keys whose value differs, in a stable order. */
function changedSettings(running: DaemonSettings, next: DaemonSettings): string[] {
  const keys = new Set([...Object.keys(running), ...Object.keys(next)]) as Set<keyof DaemonSettings>;
  return [...keys].filter((k) => JSON.stringify(running[k]) !== JSON.stringify(next[k])).sort();
}
