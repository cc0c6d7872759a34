/** One attempt of a command: spawn it as its own process group, stream its output, stop it on timeout or cancel. */
import { statSync } from 'node:fs';
import type { EndReason } from '../jobs/execution.js';
import { redactSecrets } from '../jobs/redact.js';
import { daemonUid, lookupUser, PASSWD_FILE, type SystemUser } from '../jobs/system-user.js';
import { spawnChild, type ChildRun, type ProcessEnd } from './child-process.js';
import type { LogSink } from './log-sink.js';
import { createPidFile, type PidFile } from './pid-file.js';
import { stopProcessGroup, trackGroup, untrackGroup } from './process-tree.js';
import { formatSeconds, setLongTimeout } from './timers.js';

export interface RunAttemptOptions {
  /** A string runs under `/bin/sh -c`; an array runs without a shell, its first element the file. */
  command: string | string[];
  /** Added to the daemon's environment. */
  environment: Record<string, string>;
  /** null for the daemon's cwd. */
  workingDirectory: string | null;
  /** 0 or Infinity for none. */
  timeoutMs: number;
  /** Between SIGTERM and SIGKILL to the process group. */
  killGraceMs: number;
  log: LogSink;
  /** Aborting it cancels the attempt. */
  signal: AbortSignal;
  /** Where the attempt's process-group id is kept while it runs (see pid-file.ts); none when omitted. */
  pidFile?: string;
  /** Run as this user (name or uid; needs a daemon running as root); null or omitted: as the daemon's user. */
  user?: string | number | null;
}

/** How one attempt ended; the shape of `Attempt` in jobs/execution.ts, always finished. */
export interface AttemptResult {
  started_at: string;
  finished_at: string;
  exit_code: number | null;
  signal: string | null;
  reason: Extract<EndReason, 'exit' | 'timeout' | 'cancelled' | 'spawn_error'>;
  /** One line for people, null on exit 0. */
  error: string | null;
}

/**
 * After the group is stopped, how long its pipes may stay open: a process that left the group
 * (setsid) but kept our stdout would otherwise hold the attempt open forever.
 */
const DRAIN_MS = 1000;

/** Runs one attempt. Never throws for a failing command: a failure is a result. */
export async function runAttempt(options: RunAttemptOptions): Promise<AttemptResult> {
  const { log, signal } = options;
  // Created before the spawn, through the thread pool; only the pid is written after it (see pid-file.ts). First, so that
  // from the cancel check below to the spawn nothing awaits.
  const pidFile = options.pidFile === undefined ? undefined : await createPidFile(options.pidFile).then((file) => ({ file }), (error: unknown) => ({ error }));
  const startedAt = new Date().toISOString();
  if (signal.aborted) {
    removePidFileOf(pidFile, log);
    log.note('--- cancelled before it started ---');
    return { started_at: startedAt, finished_at: startedAt, exit_code: null, signal: null, reason: 'cancelled', error: 'cancelled' };
  }

  const [file, ...args] = typeof options.command === 'string' ? ['/bin/sh', '-c', options.command] : options.command;
  if (file === undefined) throw new TypeError('runAttempt: empty command');
  // Resolved at each attempt, so a user removed since the job was saved fails this attempt, not the daemon.
  const runAs = options.user === undefined || options.user === null ? { user: null } : resolveRunAs(options.user);
  if ('error' in runAs) {
    removePidFileOf(pidFile, log);
    log.note(`--- ${runAs.error} ---`);
    return { started_at: startedAt, finished_at: new Date().toISOString(), exit_code: null, signal: null, reason: 'spawn_error', error: runAs.error };
  }
  // Its own process group (detached), so a timeout or cancel reaches every process it started; process-tree.ts tracks it.
  const subprocess = spawnChild(file, args, {
    env: runAs.user ? { ...userEnvironment(runAs.user), ...options.environment } : options.environment,
    // Node then also drops root's supplementary groups (setgroups(0)) before it sets these.
    ...(runAs.user ? { uid: runAs.user.uid, gid: runAs.user.gid } : {}),
    cwd: options.workingDirectory ?? undefined,
  });
  const pid = subprocess.pid;
  // Errors of our own (a broken log sink or pid file, a failed kill) are kept and thrown once the process is over.
  let sinkError: unknown;
  let stopError: unknown;
  let pidFileError: unknown;
  if (pid !== undefined) {
    trackGroup(pid);
    if (pidFile !== undefined) {
      // Before anything awaits: a daemon killed from here on leaves the file for the next start to find.
      try {
        if ('error' in pidFile) throw pidFile.error;
        pidFile.file.write(pid);
      } catch (err) {
        pidFileError = err;
      }
    }
  }
  const forward = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    try {
      log.write(stream, chunk);
    } catch (err) {
      sinkError ??= err;
    }
  };
  subprocess.stdout?.on('data', forward('stdout'));
  subprocess.stderr?.on('data', forward('stderr'));

  let stoppedFor: 'timeout' | 'cancelled' | 'pid_file' | null = null;
  let stopping: Promise<void> = Promise.resolve();
  const stop = (why: 'timeout' | 'cancelled' | 'pid_file') => {
    if (stoppedFor !== null || pid === undefined) return;
    stoppedFor = why;
    const what =
      why === 'timeout'
        ? `timed out after ${formatSeconds(options.timeoutMs)}`
        : why === 'cancelled'
          ? 'cancelled'
          : `cannot write the pid file ${options.pidFile}: ${errorMessage(pidFileError)}`;
    log.note(`--- ${what}; stopping the process group ---`);
    stopping = stopProcessGroup(pid, options.killGraceMs)
      .then(() => closePipesUnlessDrained(subprocess))
      .catch((err: unknown) => {
        stopError ??= err;
      });
  };
  const onAbort = () => stop('cancelled');
  signal.addEventListener('abort', onAbort, { once: true });
  const cancelTimer =
    Number.isFinite(options.timeoutMs) && options.timeoutMs > 0
      ? setLongTimeout(() => stop('timeout'), options.timeoutMs)
      : () => {};
  // Unwatched after a crash is worse than not run: a group whose pid file cannot be written is stopped at once.
  if (pidFileError !== undefined) stop('pid_file');

  let result: ProcessEnd;
  try {
    result = await subprocess;
    // A stop in progress must finish before the attempt counts as over, so nothing of it outlives the result.
    await stopping;
  } finally {
    cancelTimer();
    signal.removeEventListener('abort', onAbort);
    if (pid !== undefined) untrackGroup(pid);
    removePidFileOf(pidFile, log);
  }
  if (pidFileError !== undefined) throw pidFileError;
  if (stopError !== undefined) throw stopError;
  if (sinkError !== undefined) throw sinkError;

  const base = { started_at: startedAt, finished_at: new Date().toISOString() };
  const exitCode = result.exitCode ?? null;
  const exitSignal = result.signal ?? null;
  if (pid === undefined) {
    // Node's spawn errors may quote the environment (a value it refused): no value of the job's may reach the record, log or notifications.
    const error = redactSecrets(spawnError(result, options.workingDirectory), Object.values(options.environment));
    log.note(`--- ${error} ---`);
    return { ...base, exit_code: null, signal: null, reason: 'spawn_error', error };
  }
  if (stoppedFor === 'timeout') {
    return { ...base, exit_code: exitCode, signal: exitSignal, reason: 'timeout', error: `timed out after ${formatSeconds(options.timeoutMs)}` };
  }
  if (stoppedFor === 'cancelled') {
    return { ...base, exit_code: exitCode, signal: exitSignal, reason: 'cancelled', error: 'cancelled' };
  }
  const error = exitSignal !== null ? `killed by signal ${exitSignal}` : exitCode !== 0 ? `exited with code ${exitCode}` : null;
  return { ...base, exit_code: exitCode, signal: exitSignal, reason: 'exit', error };
}

/** Removes the attempt's pid file, if it was created; a failure is noted in the log. */
function removePidFileOf(pidFile: { file: PidFile } | { error: unknown } | undefined, log: LogSink): void {
  if (pidFile === undefined || !('file' in pidFile)) return;
  try {
    pidFile.file.remove();
  } catch (err) {
    // Harmless: recovery checks the execution id in the environment of that pid before it kills anything.
    log.note(`--- cannot remove the pid file ${pidFile.file.path}: ${errorMessage(err)} ---`);
  }
}

/** Whom to run as, or why that cannot be done. */
function resolveRunAs(user: string | number): { user: SystemUser } | { error: string } {
  const uid = daemonUid();
  if (uid !== 0) return { error: `cannot run as user ${JSON.stringify(user)}: the daemon runs as uid ${uid ?? 'unknown'}, not root` };
  const found = lookupUser(user);
  return found ? { user: found } : { error: `cannot run as user ${JSON.stringify(user)}: no such user in ${PASSWD_FILE}` };
}

/** What a login would set for the user, as cron does; the job's own environment wins over it. */
function userEnvironment(user: SystemUser): Record<string, string> {
  // A uid no entry lists has no home; / rather than the daemon's own (root's) HOME.
  const env: Record<string, string> = { HOME: user.home ?? '/' };
  if (user.name !== null) {
    env.USER = user.name;
    env.LOGNAME = user.name;
  }
  return env;
}

/** Gives the pipes DRAIN_MS to close by themselves, then closes them. */
async function closePipesUnlessDrained(subprocess: ChildRun): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    subprocess.then(() => true),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), DRAIN_MS))),
  ]);
  clearTimeout(timer);
  if (!drained) {
    subprocess.stdout?.destroy();
    subprocess.stderr?.destroy();
  }
}

/** One line: `spawn /nonexistent ENOENT`, naming the working directory when that is what is missing. */
function spawnError(result: ProcessEnd, workingDirectory: string | null): string {
  const code = (result.cause as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (code.startsWith('ERR_INVALID_ARG')) {
    // Node refused an argument or a variable before any spawn, quoting its value: say which, never the value.
    const what = /(?:property|argument) '(.{1,200}?)' (?:must|is)/.exec((result.cause as Error).message)?.[1] ?? 'an argument';
    return `could not start: ${what} is not a valid string (a NUL byte?)`;
  }
  const cause = result.cause instanceof Error ? result.cause.message : result.originalMessage || result.shortMessage;
  const line = (cause || 'spawn failed').split('\n').pop()!.trim();
  if (workingDirectory !== null && !isDirectory(workingDirectory)) {
    return `${line} (working directory ${workingDirectory} does not exist)`;
  }
  return line;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
