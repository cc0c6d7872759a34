/**
 * Starts the real daemon (`bin/watchbell daemon`) on a temporary config listening on 127.0.0.1:0, for
 * the benches that measure it over HTTP. The URL comes from its `daemon.started` JSON log line.
 * `stop()` sends SIGTERM (SIGKILL after 10 s) and removes the temp dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/watchbell');

export interface BenchJob {
  id: string;
  schedule: string;
  command: string;
  status?: 'active' | 'paused';
}

export interface RunningDaemon {
  url: string;
  pid: number;
  /** Its config file, for benches that rewrite it and reload. */
  configFile: string;
  /** ms from spawn to the `daemon.started` line. */
  startedAfterMs: number;
  /** ms from spawn to the first 200 from /health. */
  firstHealthMs: number;
  /** VmRSS of the daemon process, MiB. */
  rssMiB(): Promise<number>;
  stop(): Promise<void>;
}

/** The config text the benches' daemons run: `jobs` under `jobs:`, `extra` lines under `daemon:`. */
export function yamlConfig(jobs: readonly BenchJob[], extra: string, dataDir = './data'): string {
  const lines = [
    'version: 1',
    'daemon:',
    '  listen: 127.0.0.1:0',
    `  data_dir: ${JSON.stringify(dataDir)}`,
    `  max_jobs: ${Math.max(10_000, jobs.length)}`,
    '  shutdown_grace: 1s',
    '  kill_grace: 1s',
    extra,
    'jobs:',
  ];
  for (const job of jobs) {
    lines.push(`  ${job.id}:`, `    schedule: "${job.schedule}"`, `    command: ${job.command}`);
    if (job.status) lines.push(`    status: ${job.status}`);
  }
  return lines.filter((l) => l !== '').join('\n') + '\n';
}

export async function readRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/**
 * Starts a daemon with `jobs` (of `bin`, default ours: a baseline build for before/after); rejects if it
 * has not answered /health within `timeoutMs`. `dataDir`: one that outlives it (for a restart), else its temp dir's.
 */
export async function startDaemon(
  jobs: readonly BenchJob[],
  options: { timeoutMs?: number; extraYaml?: string; bin?: string; dataDir?: string } = {},
): Promise<RunningDaemon> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const dir = await mkdtemp(join(tmpdir(), 'watchbell-bench-daemon-'));
  const file = join(dir, 'watchbell.yaml');
  await writeFile(file, yamlConfig(jobs, options.extraYaml ?? '', options.dataDir));
  const t0 = performance.now();
  // WATCHBELL_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/p" profiles the daemon (NODE_OPTIONS refuses --cpu-prof).
  const nodeArgs = (process.env.WATCHBELL_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, options.bin ?? BIN, 'daemon', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const cleanup = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((done) => child.once('exit', () => done()));
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(force);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const { url, at } = await new Promise<{ url: string; at: number }>((done, fail) => {
      let buffer = '';
      const timer = setTimeout(() => fail(new Error(`daemon did not log daemon.started within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
      child.once('exit', (code, signal) => { clearTimeout(timer); fail(new Error(`daemon exited (${code ?? signal}) before starting; stderr: ${stderr}`)); });
      child.stdout!.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (!line.includes('daemon.started')) continue;
          try {
            const parsed = JSON.parse(line) as { event?: string; url?: string };
            if (parsed.event === 'daemon.started' && parsed.url) { clearTimeout(timer); done({ url: parsed.url, at: performance.now() - t0 }); }
          } catch { /* not JSON: keep reading */ }
        }
      });
    });
    child.stdout!.resume(); // keep draining later log lines
    let firstHealthMs = NaN;
    while (performance.now() - t0 < timeoutMs) {
      try {
        const res = await fetch(`${url}/health`);
        await res.arrayBuffer();
        if (res.ok) { firstHealthMs = performance.now() - t0; break; }
      } catch { /* not ready yet */ }
      await new Promise((r) => setTimeout(r, 10));
    }
    if (!Number.isFinite(firstHealthMs)) throw new Error(`/health did not answer 200 within ${timeoutMs} ms`);
    const pid = child.pid!;
    return { url, pid, configFile: file, startedAfterMs: at, firstHealthMs, rssMiB: () => readRssMiB(pid), stop: cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
