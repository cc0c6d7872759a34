/**
 * A job in a new container: the image per its pull policy, a container labelled with the job and execution,
 * attached before it starts (so no output is missed), waited for, stopped on timeout or cancel, and removed
 * whatever happened.
 */
import type Docker from 'dockerode';
import { WatchbellError } from '../../jobs/errors.js';
import { CONTAINER_LABELS, type ContainerRunSpec } from '../../jobs/container-spec.js';
import type { LogSink } from '../log-sink.js';
import type { ContainerDriverContext, ContainerExit } from './container-attempt.js';
import { commandArgv, environmentList, sinkWriter } from './container-process.js';
import { demultiplex, ended, ENGINE_CALL_MS, engineCall, engineClient, engineError, engineStatus, streamEnded, withTag } from './docker-engine.js';

/** After the container exited, how long its output may take to arrive before the stream is closed. */
const DRAIN_MS = 2000;

/** Runs the attempt in a new container and resolves with its exit code; throws WatchbellError for engine failures. */
export async function runInNewContainer(ctx: ContainerDriverContext): Promise<ContainerExit> {
  const spec = ctx.container as ContainerRunSpec;
  const docker = await engineClient();
  await ensureImage(docker, spec, ctx);
  const argv = commandArgv(ctx.command);
  const container = await engineCall(
    `creating a container of image ${spec.image}`,
    (abortSignal) =>
      docker.createContainer({
        Image: withTag(spec.image),
        // The command runs exactly as given, whatever ENTRYPOINT the image has, as a host command would.
        Entrypoint: argv.slice(0, 1),
        Cmd: argv.slice(1),
        Env: environmentList(ctx.environment),
        Labels: { [CONTAINER_LABELS.job]: ctx.jobId, [CONTAINER_LABELS.execution]: ctx.executionId },
        ...(spec.user !== null ? { User: spec.user } : {}),
        ...(spec.working_dir !== null ? { WorkingDir: spec.working_dir } : {}),
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
        OpenStdin: false,
        HostConfig: {
          ...(spec.network !== null ? { NetworkMode: spec.network } : {}),
          ...(spec.volumes.length ? { Binds: spec.volumes } : {}),
        },
        abortSignal,
      } as Docker.ContainerCreateOptions),
    { signal: ctx.stop },
  );
  const short = container.id.slice(0, 12);
  ctx.log.note(`--- container ${short} of image ${spec.image} ---`);
  const sink = sinkWriter(ctx.log);
  try {
    const stream = await engineCall(
      `attaching to container ${short}`,
      (abortSignal) => container.attach({ stream: true, stdout: true, stderr: true, abortSignal } as Docker.ContainerAttachOptions),
      { signal: ctx.stop },
    );
    demultiplex(stream, sink.write);
    void ended(stream);
    await engineCall(`starting container ${short}`, (abortSignal) => container.start({ abortSignal } as Docker.ContainerStartOptions), { signal: ctx.stop });

    let stopping: Promise<void> = Promise.resolve();
    const onStop = () => (stopping = stopContainer(container, ctx.killGraceMs, ctx.log));
    if (ctx.stop.aborted) onStop();
    else ctx.stop.addEventListener('abort', onStop, { once: true });
    let status: unknown;
    try {
      // Not bounded: the attempt's timeout stops the container, and then the wait returns.
      status = await engineCall(`waiting for container ${short}`, () => container.wait(), { timeoutMs: Infinity });
      await stopping;
    } finally {
      ctx.stop.removeEventListener('abort', onStop);
    }
    if (!(await streamEnded(stream, DRAIN_MS))) (stream as { destroy?: () => void }).destroy?.();
    sink.rethrow();
    return { exitCode: await exitCodeOf(container, status) };
  } finally {
    await removeContainer(container, ctx.log);
  }
}

/** Makes sure the engine has the image, pulling it as the job's pull policy says. */
async function ensureImage(docker: Docker, spec: ContainerRunSpec, ctx: ContainerDriverContext): Promise<void> {
  const ref = withTag(spec.image);
  if (spec.pull !== 'always') {
    const present = await engineCall(
      `looking for image ${spec.image}`,
      () => docker.getImage(ref).inspect().then(() => true, (err: unknown) => (engineStatus(err) === 404 ? false : Promise.reject(err))),
      { signal: ctx.stop },
    );
    if (present) return;
    if (spec.pull === 'never') {
      throw new WatchbellError('ENGINE_FAILED', `image ${spec.image} is not on the container engine and container.pull is "never"; pull it there first, or set pull: missing`);
    }
  }
  ctx.log.note(`--- pulling image ${ref} ---`);
  // Bounded by the attempt's timeout (and cancel), not by ENGINE_CALL_MS: a big image takes long.
  const progress = await engineCall(`pulling image ${ref}`, (abortSignal) => followPull(docker, ref, abortSignal), { signal: ctx.stop, timeoutMs: Infinity });
  // The engine answers 200 and then reports a failed pull inside the progress stream.
  const failed = progress.find((p) => typeof p.error === 'string' || p.errorDetail?.message);
  if (failed) throw new WatchbellError('ENGINE_FAILED', `pulling image ${ref}: ${String(failed.errorDetail?.message ?? failed.error).replace(/\s+/g, ' ').trim()}`);
}

interface PullProgress {
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
}

async function followPull(docker: Docker, ref: string, abortSignal: AbortSignal): Promise<PullProgress[]> {
  const stream = await docker.pull(ref, { abortSignal });
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, output: PullProgress[]) => (err ? reject(err) : resolve(output ?? [])));
  });
}

/** `docker stop`: SIGTERM (or the image's STOPSIGNAL), SIGKILL after the grace; a failed stop falls back to a kill. */
async function stopContainer(container: Docker.Container, graceMs: number, log: LogSink): Promise<void> {
  const t = Math.ceil(graceMs / 1000);
  try {
    await engineCall(`stopping container ${container.id.slice(0, 12)}`, (abortSignal) => container.stop({ t, abortSignal } as Docker.ContainerStopOptions), {
      timeoutMs: graceMs + ENGINE_CALL_MS,
    });
  } catch (err) {
    // 304: it had already stopped; 404: already gone. Either way it no longer runs.
    const status = engineStatus(err);
    if (status === 304 || status === 404) return;
    log.note(`--- ${(err as Error).message}; killing it ---`);
    await engineCall(`killing container ${container.id.slice(0, 12)}`, () => container.kill()).catch(() => undefined);
  }
}

/** The exit code from the wait API, else from inspect (never from a CLI: Podman's `run --rm` misreports it). */
async function exitCodeOf(container: Docker.Container, waited: unknown): Promise<number | null> {
  const code = (waited as { StatusCode?: unknown } | null)?.StatusCode;
  if (typeof code === 'number') return code;
  const info = await engineCall(`inspecting container ${container.id.slice(0, 12)}`, () => container.inspect());
  return typeof info.State?.ExitCode === 'number' ? info.State.ExitCode : null;
}

/** Removes the container with its anonymous volumes; a failure is logged (the next start cleans it up), not thrown. */
async function removeContainer(container: Docker.Container, log: LogSink): Promise<void> {
  try {
    await engineCall(`removing container ${container.id.slice(0, 12)}`, (abortSignal) => container.remove({ force: true, v: true, abortSignal }));
  } catch (err) {
    if (engineStatus(err) === 404) return;
    log.note(`--- ${engineError('removing the container', err).message}; the daemon's next start removes it ---`);
  }
}
