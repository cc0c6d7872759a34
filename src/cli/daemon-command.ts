/** `watchbell daemon`: starts the daemon in the foreground; flags override the file's `daemon:` keys. */
import { resolve } from 'node:path';
import { ConfigError, formatProblem } from '../config/load-config.js';
import type { DaemonSettings } from '../config/settings.js';
import { startDaemon } from '../daemon.js';
import { isWatchbellError } from '../jobs/errors.js';
import { releaseForLargeConfig, releaseYoungGeneration } from '../young-generation.js';
import { trimYoungGenerationWhenIdle } from '../young-generation-trim.js';
import { UsageError } from './usage-error.js';
import { findVerb, type Parsed } from './verbs.js';

/** Starts the daemon and resolves only when it has stopped (signals end the process). */
export async function runDaemonCommand(args: Parsed): Promise<number> {
  const verb = findVerb('daemon');
  const configFile = args.text('config') ?? process.env.WATCHBELL_CONFIG;
  if (!configFile) throw new UsageError('watchbell daemon needs --config FILE (or WATCHBELL_CONFIG)', verb);
  const format = args.text('log-format');
  if (format !== undefined && format !== 'json' && format !== 'pretty') throw new UsageError(`--log-format ${format}: expected json or pretty`, verb);
  const level = args.text('log-level');
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
  if (level !== undefined && !levels.includes(level)) throw new UsageError(`--log-level ${level}: expected one of ${levels.join(', ')}`, verb);
  const data = args.text('data');
  const overrides: Partial<DaemonSettings> = {
    listen: args.text('listen'),
    // A flag's relative path means relative to where the command was typed.
    data_dir: data === undefined ? undefined : resolve(data),
    // The flag before the environment before the file (STYLE.md: defaults < YAML < environment < flags).
    store: args.text('store') ?? (process.env.WATCHBELL_STORE || undefined),
    log_format: format as DaemonSettings['log_format'] | undefined,
    log_level: level as DaemonSettings['log_level'] | undefined,
    // Only turns watching on: without the flag, `daemon.watch` in the file decides.
    watch: args.flag('watch') ? true : undefined,
  };
  releaseForLargeConfig(configFile);
  try {
    await startDaemon({ configFile, overrides, handleSignals: true, closeInheritedFds: true });
    trimYoungGenerationWhenIdle();
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
      process.stderr.write(`watchbell: not started: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} in the config\n`);
      return 1;
    }
    if (isWatchbellError(err)) {
      process.stderr.write(`watchbell: not started: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    releaseYoungGeneration();
  }
  // The daemon runs until a signal; its handlers exit the process.
  return new Promise<number>(() => undefined);
}
