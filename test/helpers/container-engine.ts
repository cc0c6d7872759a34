/**
 * A real Docker-API engine for the container tests: Podman's Docker-compatible service on a unix socket in a
 * temp dir, with its own storage, and a busybox image imported from a rootfs tarball (no registry needed).
 * Started once per test run by the first suite that asks, stopped by a root `after` hook at the end.
 * Without podman (or busybox) the suites skip, with one loud line; CI installs both (.ci/run).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import type { Execution } from '../../src/jobs/execution.js';
import type { DaemonProcess } from './daemon-process.js';

/** The image every container test uses: busybox, imported locally. */
export const TEST_IMAGE = 'localhost/busybox:latest';

export interface ContainerEngine {
  /** `unix:///tmp/.../podman.sock`: DOCKER_HOST for the daemon under test. */
  dockerHost: string;
  /** A client of our own, to look at what the daemon did. */
  docker: Docker;
  dir: string;
}

/** What makes Podman work in these sandboxes: no rlimit raising, runc rather than crun, no systemd or journald. */
export const CONTAINERS_CONF = `[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
`;

const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'echo', 'sleep', 'cat', 'ps', 'ls', 'kill', 'true', 'false', 'env', 'grep', 'tr', 'setsid'];

let shared: Promise<ContainerEngine | null> | undefined;
let service: ChildProcess | undefined;
let serviceDir: string | undefined;
let warned = false;

/** The shared engine, started on first use; null (after one console.warn) when podman or busybox is missing. */
export function containerEngine(): Promise<ContainerEngine | null> {
  shared ??= start();
  return shared;
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

async function start(): Promise<ContainerEngine | null> {
  const missing = [!which('podman') && 'podman', !existsSync(BUSYBOX) && `${BUSYBOX} (busybox-static)`].filter(Boolean);
  if (missing.length) {
    // CI sets this (.ci/run): there the container tests must run, so a missing engine fails them instead.
    if (process.env.WATCHBELL_REQUIRE_CONTAINER_ENGINE === '1') {
      throw new Error(`the container tests need ${missing.join(' and ')} (WATCHBELL_REQUIRE_CONTAINER_ENGINE=1): apt-get install -y podman runc busybox-static`);
    }
    if (!warned) console.warn(`\n!!! SKIPPING the container tests: ${missing.join(' and ')} not installed. Run: apt-get install -y podman runc busybox-static (CI does) !!!\n`);
    warned = true;
    return null;
  }
  // Short: podman puts sockets under it, and a unix socket path has at most 107 bytes.
  const dir = await mkdtemp('/tmp/wbe-');
  serviceDir = dir;
  await writeFile(join(dir, 'containers.conf'), CONTAINERS_CONF);
  const rootfs = join(dir, 'rootfs');
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await mkdir(join(rootfs, 'tmp'), { recursive: true });
  await copyFile(BUSYBOX, join(rootfs, 'bin/busybox'));
  for (const applet of APPLETS) await symlink('busybox', join(rootfs, 'bin', applet));
  run('tar', ['-C', rootfs, '-cf', join(dir, 'rootfs.tar'), '.']);
  podman(dir, ['import', join(dir, 'rootfs.tar'), TEST_IMAGE]);

  const socket = join(dir, 'podman.sock');
  service = spawn('podman', [...podmanArgs(dir), 'system', 'service', '--time=0', `unix://${socket}`], {
    env: podmanEnv(dir),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  service.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const docker = new Docker({ socketPath: socket });
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await docker.ping();
      break;
    } catch (err) {
      if (service.exitCode !== null || Date.now() > deadline) throw new Error(`podman system service did not come up: ${(err as Error).message}\n${stderr}`);
      await sleep(100);
    }
  }
  return { dockerHost: `unix://${socket}`, docker, dir };
}

function podmanArgs(dir: string): string[] {
  return ['--root', join(dir, 'storage'), '--runroot', join(dir, 'run')];
}

function podmanEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, CONTAINERS_CONF: join(dir, 'containers.conf') };
}

function podman(dir: string, args: string[]): void {
  run('podman', [...podmanArgs(dir), ...args], podmanEnv(dir));
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
}

/** Stops the service and removes its containers, storage and temp dir. */
async function stopEngine(): Promise<void> {
  if (!shared) return;
  const engine = await shared.catch(() => null);
  shared = undefined;
  const dir = serviceDir;
  if (engine) {
    const all = await engine.docker.listContainers({ all: true }).catch(() => []);
    await Promise.all(all.map((c) => engine.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  }
  if (service && service.exitCode === null) {
    const exited = new Promise((resolve) => service!.once('exit', resolve));
    service.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (service.exitCode === null) service.kill('SIGKILL');
  }
  service = undefined;
  if (dir) {
    // Whatever the API could not remove (a container of a killed test), then the storage itself.
    spawnSync('podman', [...podmanArgs(dir), 'rm', '-af', '-t', '0'], { env: podmanEnv(dir), stdio: 'ignore' });
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

// A root hook: registered once, when the first container suite imports this module; runs after every suite.
if (typeof after === 'function') after(stopEngine);

/** Creates and starts a long-running busybox container with `labels`; resolves with it. */
export async function startTarget(engine: ContainerEngine, name: string, labels: Record<string, string> = {}): Promise<Docker.Container> {
  const c = await engine.docker.createContainer({ Image: TEST_IMAGE, name, Cmd: ['sleep', '100000'], Labels: labels });
  await c.start();
  return c;
}

/** Runs `sh -c script` in a container through the API and resolves with its stdout (both streams, demultiplexed). */
export async function execText(engine: ContainerEngine, container: string, script: string): Promise<string> {
  const exec = await engine.docker.getContainer(container).exec({ Cmd: ['sh', '-c', script], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  let out = '';
  const sink = { write: (b: Buffer) => ((out += b.toString()), true) } as unknown as NodeJS.WritableStream;
  engine.docker.modem.demuxStream(stream, sink, sink);
  await new Promise((resolve) => stream.on('end', resolve));
  return out;
}

/** Containers the daemon labelled for job `jobId` (all states). */
export async function containersOfJob(engine: ContainerEngine, jobId: string): Promise<Docker.ContainerInfo[]> {
  return engine.docker.listContainers({ all: true, filters: { label: [`watchbell.job=${jobId}`] } });
}

/** Runs a job now and resolves, once it has ended, with its id, its record and its stdout. */
export async function runToEnd(d: DaemonProcess, jobId: string): Promise<{ eid: string; e: Execution; stdout: string }> {
  const run = await d.api('POST', `/api/v1/jobs/${jobId}/run`);
  if (run.status !== 202) throw new Error(`run of ${jobId} answered ${run.status}: ${run.text}`);
  const eid = run.body.data.execution_id as string;
  await d.finished(eid, 40_000);
  const e = (await d.api('GET', `/api/v1/jobs/${jobId}/executions/${eid}`)).body.data as Execution;
  const stdout = (await d.api('GET', `/api/v1/jobs/${jobId}/executions/${eid}/log?stream=stdout`)).text;
  return { eid, e, stdout };
}

/** Resolves once an execution's log holds `text` (so its process runs); throws after 20 s. */
export async function untilLogged(d: DaemonProcess, jobId: string, eid: string, text: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await d.api('GET', `/api/v1/jobs/${jobId}/executions/${eid}/log`)).text.includes(text)) {
    if (Date.now() > deadline) throw new Error(`execution ${eid} of ${jobId} never logged ${JSON.stringify(text)}`);
    await sleep(50);
  }
}
