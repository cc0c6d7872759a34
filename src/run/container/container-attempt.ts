/**
 * One attempt of a container job: the frame shared by a new container (container-run.ts) and an exec into a
 * running one (container-exec.ts): the timeout and cancel that stop it, and the AttemptResult. As for
 * commands, a failure is a result: an engine that cannot be reached, a missing image, a failed pull give
 * `reason: spawn_error` with the engine's words, never a throw and never a hang.
 */
import { WatchbellError } from '../../jobs/errors.js';
import { isExecSpec, type ContainerSpec } from '../../jobs/container-spec.js';
import type { AttemptResult } from '../command.js';
import type { LogSink } from '../log-sink.js';
import { formatSeconds, setLongTimeout } from '../timers.js';
import { EngineCallAborted } from './docker-engine.js';
import { execInContainer } from './container-exec.js';
import { runInNewContainer } from './container-run.js';

export interface ContainerAttemptOptions {
  jobId: string;
  executionId: string;
  container: ContainerSpec;
  /** A string runs under `/bin/sh -c` inside the container; an array runs as given (the image's ENTRYPOINT is not used). */
  command: string | string[];
  /** The container's (or exec's) whole environment: the daemon's own is not passed on. */
  environment: Record<string, string>;
  /** 0 or Infinity for none; covers the pull too. */
  timeoutMs: number;
  /** Between SIGTERM and SIGKILL. */
  killGraceMs: number;
  log: LogSink;
  /** Aborting it cancels the attempt. */
  signal: AbortSignal;
  /** Where an exec keeps its container and process group while it runs, for crash recovery (exec-record.ts). */
  execRecord?: string;
}

/** What a driver (new container or exec) gets: the attempt's options and the signal that asks it to stop. */
export interface ContainerDriverContext extends ContainerAttemptOptions {
  /** Fires on timeout or cancel: before the process runs, engine calls abort; once it runs, the driver stops it. */
  stop: AbortSignal;
}

/** How a driver's process ended: its exit code as the engine's wait/inspect API reports it, null if unknown. */
export interface ContainerExit {
  exitCode: number | null;
}

/** Runs one attempt in a container. Throws only for bugs; every engine failure is a `spawn_error` result. */
export async function runContainerAttempt(options: ContainerAttemptOptions): Promise<AttemptResult> {
  const startedAt = new Date().toISOString();
  const { log, signal } = options;
  const finish = (rest: Omit<AttemptResult, 'started_at' | 'finished_at'>): AttemptResult => ({
    started_at: startedAt,
    finished_at: new Date().toISOString(),
    ...rest,
  });
  if (signal.aborted) {
    log.note('--- cancelled before it started ---');
    return finish({ exit_code: null, signal: null, reason: 'cancelled', error: 'cancelled' });
  }

  const stopper = new AbortController();
  let stoppedFor: 'timeout' | 'cancelled' | null = null;
  const stop = (why: 'timeout' | 'cancelled') => {
    if (stoppedFor !== null) return;
    stoppedFor = why;
    const what = why === 'timeout' ? `timed out after ${formatSeconds(options.timeoutMs)}` : 'cancelled';
    log.note(`--- ${what}; stopping ${isExecSpec(options.container) ? 'the process in the container' : 'the container'} ---`);
    stopper.abort();
  };
  const onAbort = () => stop('cancelled');
  signal.addEventListener('abort', onAbort, { once: true });
  const cancelTimer =
    Number.isFinite(options.timeoutMs) && options.timeoutMs > 0 ? setLongTimeout(() => stop('timeout'), options.timeoutMs) : () => {};

  let exit: ContainerExit | null = null;
  let failure: WatchbellError | null = null;
  try {
    const context: ContainerDriverContext = { ...options, stop: stopper.signal };
    exit = isExecSpec(options.container) ? await execInContainer(context) : await runInNewContainer(context);
  } catch (err) {
    if (err instanceof WatchbellError) failure = err;
    else if (!(err instanceof EngineCallAborted)) throw err;
  } finally {
    cancelTimer();
    signal.removeEventListener('abort', onAbort);
  }

  const exitCode = exit?.exitCode ?? null;
  // Stopped, the attempt ends for that reason; an engine failure on the way is still worth a line.
  if (stoppedFor !== null && failure) log.note(`--- ${failure.message} ---`);
  if (stoppedFor === 'timeout') return finish({ exit_code: exitCode, signal: null, reason: 'timeout', error: `timed out after ${formatSeconds(options.timeoutMs)}` });
  if (stoppedFor === 'cancelled') return finish({ exit_code: exitCode, signal: null, reason: 'cancelled', error: 'cancelled' });
  if (failure) {
    log.note(`--- ${failure.message} ---`);
    return finish({ exit_code: null, signal: null, reason: 'spawn_error', error: failure.message });
  }
  const error = exitCode === null ? 'the container engine reported no exit code' : exitCode !== 0 ? `exited with code ${exitCode}` : null;
  return finish({ exit_code: exitCode, signal: null, reason: 'exit', error });
}
