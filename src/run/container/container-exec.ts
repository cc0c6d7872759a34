/**
 * A job run inside a running container (`container: {exec: NAME}`), as `docker exec` does, but stoppable:
 * the engine API has no "stop exec", and peers leave a timed-out exec running. Here the exec runs a tiny
 * `sh` wrapper that prints its pid as the first line of stdout (kept out of the log) and then becomes the
 * job's command. runc and crun start an exec'd process as the leader of a session and process group of
 * its own, so that pid names the group of everything the command starts. On timeout or cancel a second
 * exec sends SIGTERM to the group, further execs watch it (zombies aside) for `kill_grace`, and a last
 * one sends SIGKILL. All of it uses only `sh` builtins and /proc, so it works in minimal images.
 */
import type Docker from 'dockerode';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerExecSpec } from '../../jobs/container-spec.js';
import { WatchbellError } from '../../jobs/errors.js';
import type { LogSink } from '../log-sink.js';
import type { ContainerDriverContext, ContainerExit } from './container-attempt.js';
import { commandArgv, environmentList, sinkWriter } from './container-process.js';
import { demultiplex, ended, ENGINE_CALL_MS, engineCall, engineClient, engineStatus, streamEnded } from './docker-engine.js';
import { removeExecRecord, writeExecRecord, type ExecRecord } from './exec-record.js';

/** Prints the pid (the group's id), then runs the command in its place: `sh -c WRAPPER watchbell-exec ARGV...`. */
const WRAPPER = 'echo "$$"; exec "$@"';
/** Signals group $2 (or, when it is no group, process $2) with signal $1. */
const SIGNAL_SCRIPT = 'kill -s "$1" -"$2" 2>/dev/null || kill -s "$1" "$2" 2>/dev/null; exit 0';
/** Exits 0 while a process of group $1 is alive, zombies aside (a container's PID 1 may never reap them). */
const ALIVE_SCRIPT =
  'g=$1; for s in /proc/[0-9]*/stat; do read -r l < "$s" 2>/dev/null || continue; r=${l##*) }; set -- $r; ' +
  '[ "$3" = "$g" ] && [ "$1" != Z ] && exit 0; done; exit 1';
/** A first stdout line longer than this is not our header: the wrapper did not run as expected. */
const HEADER_MAX = 32;
/** How long the exec's output may take to end after its process group is gone. */
const DRAIN_MS = 2000;
/** How often a stop looks whether the group is gone. */
const POLL_MS = 250;
/** How long to wait for the engine to report an ended exec as not running, to read its exit code. */
const EXIT_CODE_WAIT_MS = 5000;
/** sh's codes for "cannot execute" and "not found". */
const CANNOT_RUN = new Set([126, 127]);

/** Runs the attempt as an exec in a running container and resolves with its exit code. */
export async function execInContainer(ctx: ContainerDriverContext): Promise<ContainerExit> {
  const spec = ctx.container as ContainerExecSpec;
  const docker = await engineClient();
  const target = docker.getContainer(spec.exec);
  const info = await engineCall(`looking for container ${spec.exec}`, () => target.inspect(), { signal: ctx.stop }).catch((err: unknown) => {
    if (engineStatus(err) === 404) throw new WatchbellError('ENGINE_FAILED', `no container named ${spec.exec} to exec into`, { cause: err });
    throw err;
  });
  if (!info.State?.Running) {
    throw new WatchbellError('ENGINE_FAILED', `container ${spec.exec} is not running (${info.State?.Status ?? 'unknown state'}); cannot exec into it`);
  }
  const user = spec.user ?? undefined;
  const exec = await engineCall(
    `creating an exec in container ${spec.exec}`,
    (abortSignal) =>
      target.exec({
        Cmd: ['/bin/sh', '-c', WRAPPER, 'watchbell-exec', ...commandArgv(ctx.command)],
        Env: environmentList(ctx.environment),
        ...(user !== undefined ? { User: user } : {}),
        ...(spec.working_dir !== null ? { WorkingDir: spec.working_dir } : {}),
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
        abortSignal,
      } as Docker.ExecCreateOptions),
    { signal: ctx.stop },
  );
  // Not aborted by a stop: once the engine is asked to start it, the process may run, and must be seen to be stopped.
  const stream = await engineCall(`starting the exec in container ${spec.exec}`, () => exec.start({ hijack: true, stdin: false }));
  const streamDone = ended(stream);
  const sink = sinkWriter(ctx.log);
  const pid = readHeader(stream, sink.write);
  if (ctx.execRecord !== undefined) void pid.then((p) => p !== null && keepRecord(ctx.execRecord!, { container: spec.exec, pid: p, user: spec.user }, ctx.log));

  let stopping: Promise<void> = Promise.resolve();
  const onStop = () => {
    stopping = stopExec(target, spec, pid, ctx.killGraceMs, ctx.log).then(async () => {
      // Something that left the group (setsid) may hold the exec's output open; it is not waited for.
      if (!(await streamEnded(stream, DRAIN_MS))) (stream as { destroy?: () => void }).destroy?.();
    });
  };
  if (ctx.stop.aborted) onStop();
  else ctx.stop.addEventListener('abort', onStop, { once: true });
  try {
    await streamDone;
    await stopping;
  } finally {
    ctx.stop.removeEventListener('abort', onStop);
    if (ctx.execRecord !== undefined) removeExecRecord(ctx.execRecord);
  }
  sink.rethrow();
  const exitCode = await exitCodeOf(exec);
  if ((await pid) === null && exitCode !== null && CANNOT_RUN.has(exitCode)) {
    throw new WatchbellError('ENGINE_FAILED', `cannot run /bin/sh in container ${spec.exec} (exit code ${exitCode}); watchbell runs exec'd commands through sh so that it can stop them`);
  }
  return { exitCode };
}

/**
 * Takes the wrapper's first stdout line (its pid) out of the stream and hands the rest on. Resolves with the
 * pid, or null when the stream ends first or the line is not a pid (then it is output, and kept).
 */
function readHeader(stream: NodeJS.ReadableStream, write: (stream: 'stdout' | 'stderr', chunk: Buffer) => void): Promise<number | null> {
  let header: Buffer | null = Buffer.alloc(0);
  let resolve!: (pid: number | null) => void;
  const pid = new Promise<number | null>((r) => (resolve = r));
  demultiplex(stream, (kind, chunk) => {
    if (kind === 'stderr' || header === null) return write(kind, chunk);
    header = Buffer.concat([header, chunk]);
    const nl = header.indexOf(10);
    if (nl < 0 && header.length <= HEADER_MAX) return;
    const line = nl < 0 ? '' : header.subarray(0, nl).toString();
    const found = /^[1-9]\d*$/.test(line) ? Number(line) : null;
    const rest = found === null ? header : header.subarray(nl + 1);
    header = null;
    resolve(found);
    if (rest.length) write('stdout', rest);
  });
  void ended(stream).then(() => resolve(null));
  return pid;
}

/** Writes the exec record for crash recovery; a failure is noted in the log (the run goes on, unwatched after a crash). */
function keepRecord(path: string, record: ExecRecord, log: LogSink): void {
  try {
    writeExecRecord(path, record);
  } catch (err) {
    log.note(`--- cannot write ${path}: ${(err as Error).message}; should the daemon crash, this process would not be stopped at restart ---`);
  }
}

/**
 * Exits 0 when process $1 carries the marker $2 (a whole `NAME=value` entry) in its environment, 1 when it
 * does not, 3 when it is gone, 127 without `tr` and `grep` (the entries are NUL-separated, which grep alone misreads).
 */
// Exit 0: ours; 1: another program's; 3: gone; 127: no tr or grep. A leader that is a zombie (a container whose
// init does not reap, such as `sleep` as PID 1) has an empty environ: then the group is ours if one of its live
// members carries the marker, and gone if none lives (seen in CI: such a leader read as "not ours").
const VERIFY_SCRIPT =
  'command -v tr >/dev/null && command -v grep >/dev/null || exit 127; [ -r "/proc/$1/environ" ] || exit 3; ' +
  'if tr "\\0" "\\n" < "/proc/$1/environ" 2>/dev/null | grep -qxF "$2"; then exit 0; fi; ' +
  'pg=$1; mk=$2; st=$(cat "/proc/$pg/stat" 2>/dev/null) || exit 3; set -- ${st##*") "}; [ "$1" = Z ] || exit 1; ' +
  'for p in /proc/[0-9]*; do st=$(cat "$p/stat" 2>/dev/null) || continue; set -- ${st##*") "}; ' +
  '[ "$1" != Z ] && [ "$3" = "$pg" ] && tr "\\0" "\\n" < "$p/environ" 2>/dev/null | grep -qxF "$mk" && exit 0; done; exit 3';

/**
 * After a crash: stops the process group an exec record names, once the group's leader is shown to carry
 * `marker` (WATCHBELL_EXECUTION_ID=...), since the pid may have been reused while no daemon ran.
 * Resolves with what was found; never throws.
 */
export async function stopExecLeftover(
  record: ExecRecord,
  marker: string,
  graceMs: number,
): Promise<'stopped' | 'gone' | 'not_ours' | 'unverified' | { error: string }> {
  const spec = { exec: record.container, user: record.user, working_dir: null };
  try {
    const target = (await engineClient()).getContainer(record.container);
    const verdict = await runScript(target, spec, VERIFY_SCRIPT, [String(record.pid), marker]);
    if (verdict === 3) return 'gone';
    if (verdict === 1) return 'not_ours';
    if (verdict !== 0) return 'unverified'; // no grep, or /proc unreadable: never kill on a guess
    await stopExec(target, spec, Promise.resolve(record.pid), graceMs, { write: () => undefined, note: () => undefined });
    return 'stopped';
  } catch (err) {
    // A container that is gone took its processes with it.
    if (engineStatus(err) === 404 || engineStatus(err) === 409) return 'gone';
    return { error: (err as Error).message };
  }
}

/** SIGTERM to the exec's process group, SIGKILL after `graceMs` if some of it still lives. */
async function stopExec(
  target: Docker.Container,
  spec: ContainerExecSpec,
  pidPromise: Promise<number | null>,
  graceMs: number,
  log: LogSink,
): Promise<void> {
  // The wrapper prints its pid before anything else; a stop right after the start may have to wait for it.
  const pid = await Promise.race([pidPromise, sleep(ENGINE_CALL_MS).then(() => null)]);
  if (pid === null) {
    log.note('--- the exec did not report its pid; if it still runs, it cannot be stopped ---');
    return;
  }
  try {
    await runScript(target, spec, SIGNAL_SCRIPT, ['TERM', String(pid)]);
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      if (!(await groupAlive(target, spec, pid))) return;
      await sleep(Math.min(POLL_MS, Math.max(1, deadline - Date.now())));
    }
    if (!(await groupAlive(target, spec, pid))) return;
    log.note(`--- process group ${pid} still runs after ${Math.round(graceMs / 1000)}s; sending SIGKILL ---`);
    await runScript(target, spec, SIGNAL_SCRIPT, ['KILL', String(pid)]);
  } catch (err) {
    log.note(`--- stopping process group ${pid} in container ${spec.exec} failed: ${(err as Error).message} ---`);
  }
}

async function groupAlive(target: Docker.Container, spec: ContainerExecSpec, pid: number): Promise<boolean> {
  return (await runScript(target, spec, ALIVE_SCRIPT, [String(pid)])) === 0;
}

/** Runs `sh -c SCRIPT sh ARGS...` in the container as the job's user (who may signal its own processes); resolves with its exit code. */
export async function runScript(target: Docker.Container, spec: Pick<ContainerExecSpec, 'exec' | 'user'>, script: string, args: string[]): Promise<number | null> {
  const what = `running a helper in container ${spec.exec}`;
  const exec = await engineCall(what, (abortSignal) =>
    target.exec({
      Cmd: ['/bin/sh', '-c', script, 'sh', ...args],
      ...(spec.user !== null ? { User: spec.user } : {}),
      AttachStdout: true,
      AttachStderr: true,
      abortSignal,
    } as Docker.ExecCreateOptions),
  );
  const stream = await engineCall(what, () => exec.start({ hijack: true, stdin: false }));
  stream.resume();
  if (!(await streamEnded(stream, 10_000))) (stream as { destroy?: () => void }).destroy?.();
  return exitCodeOf(exec);
}

/** The exit code of an ended exec, from the inspect API; polled, since the engine may report it a moment late. */
async function exitCodeOf(exec: Docker.Exec): Promise<number | null> {
  const deadline = Date.now() + EXIT_CODE_WAIT_MS;
  for (;;) {
    const info = await engineCall('inspecting the exec', () => exec.inspect());
    if (!info.Running && typeof info.ExitCode === 'number') return info.ExitCode;
    if (Date.now() >= deadline) return null;
    await sleep(50);
  }
}
