/** Starts the real daemon (bin/watchbell) as a child process on a free loopback port, with a temp config and data dir. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dropTestSchemas, testStoreUrl } from './postgres.js';

/** The repository root (tests run from dist/test/...). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = join(ROOT, 'bin/watchbell');

export interface LogLine {
  event?: string;
  [key: string]: unknown;
}

export interface ApiReply {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export interface DaemonOptions {
  /** Config file text; `listen` and `data_dir` are added unless it has a `daemon:` section. */
  config?: string;
  env?: Record<string, string>;
  /** Reuse a temp dir (to restart on the same data). */
  dir?: string;
  args?: string[];
  /**
   * Runs the daemon through this command line, which gets node and its arguments appended (e.g.
   * `['bash', '-c', 'ulimit -n 256; exec "$@"', 'bash']`); none: node directly.
   */
  launcher?: string[];
}

export class DaemonProcess {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  url = '';
  private waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly proc: ChildProcess,
    readonly dir: string,
  ) {
    this.exited = new Promise((res) => proc.once('exit', (code, signal) => res({ code, signal })));
    createInterface({ input: proc.stdout! }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { raw: text };
      }
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(line)) return true;
        w.resolve(line);
        return false;
      });
    });
    createInterface({ input: proc.stderr! }).on('line', (text) => this.stderr.push(text));
  }

  get configFile(): string {
    return join(this.dir, 'watchbell.yaml');
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** Resolves with the first log line (already seen or future) that matches. */
  waitFor(pred: (l: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
    const seen = this.lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a log line; last lines:\n${this.lines.slice(-5).map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${this.stderr.join('\n')}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      this.exited.then(() => reject(new Error(`daemon exited while waiting; stderr:\n${this.stderr.join('\n')}`)), () => undefined);
    });
  }

  /** Waits for `execution.finished` of an execution id. */
  finished(executionId: string, timeoutMs = 15_000): Promise<LogLine> {
    return this.waitFor((l) => l.event === 'execution.finished' && l.execution_id === executionId, timeoutMs);
  }

  /** An HTTP request to the daemon; a JSON body is sent as JSON, a string as is. */
  async api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiReply> {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        (init.headers as Record<string, string>)['content-type'] = 'application/json';
      }
    }
    const res = await fetch(this.url + path, init);
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, text, body: parsed };
  }

  /** Sends a signal and resolves with how the process exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    return this.exited;
  }

  /** How the process exited, once it has. */
  exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exited;
  }
}

/** A fresh temp dir for one test's config and data. */
export async function tempDir(prefix = 'watchbell-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Removes a temp dir made by tempDir. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** A config with the test's listen address and data dir. */
export function configText(jobsYaml = '', extra = ''): string {
  return `version: 1\ndaemon:\n  listen: 127.0.0.1:0\n  data_dir: ./data\n  shutdown_grace: 5s\n  kill_grace: 1s\n${extra}jobs:\n${jobsYaml}`;
}

/**
 * WATCHBELL_TEST_STORE=postgres runs every daemon of a test file on the PostgreSQL store, a schema of its
 * own per temp dir (so a restart on the same dir finds its data), dropped when the run ends
 * (test/store/api-on-postgres.test.ts runs a subset of the black-box tests so).
 */
const ON_POSTGRES = process.env.WATCHBELL_TEST_STORE === 'postgres';
const storeUrls = new Map<string, string>();
if (ON_POSTGRES && typeof after === 'function') after(dropTestSchemas);

/** The store a daemon in `dir` gets from WATCHBELL_TEST_STORE, as environment. */
export function testStoreEnv(dir: string): Record<string, string> {
  if (!ON_POSTGRES) return {};
  if (!storeUrls.has(dir)) storeUrls.set(dir, testStoreUrl());
  return { WATCHBELL_STORE: storeUrls.get(dir)! };
}

/** Spawns the daemon and resolves once it listens (or rejects with its stderr if it exits first). */
export async function startDaemon(options: DaemonOptions = {}): Promise<DaemonProcess> {
  const dir = options.dir ?? (await tempDir());
  if (options.config !== undefined || !options.dir) await writeFile(join(dir, 'watchbell.yaml'), options.config ?? configText('  {}\n'));
  const argv = [process.execPath, BIN, 'daemon', '--config', join(dir, 'watchbell.yaml'), ...(options.args ?? [])];
  const [file, ...args] = [...(options.launcher ?? []), ...argv];
  const proc = spawn(file!, args, {
    cwd: dir,
    env: { ...process.env, ...testStoreEnv(dir), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const d = new DaemonProcess(proc, dir);
  const started = await d.waitFor((l) => l.event === 'daemon.started', 20_000);
  // A run meant for PostgreSQL that quietly used the data dir would prove nothing.
  if (ON_POSTGRES && !options.env?.WATCHBELL_STORE && (started.store as { kind?: string } | undefined)?.kind !== 'postgres') {
    throw new Error(`WATCHBELL_TEST_STORE=postgres, but the daemon started on ${JSON.stringify(started.store)}`);
  }
  d.url = String(started.url);
  return d;
}

/** Starts a daemon whose config holds `jobsYaml` under `jobs:`. */
export function startWithJobs(jobsYaml: string, options: Omit<DaemonOptions, 'config'> = {}): Promise<DaemonProcess> {
  return startDaemon({ ...options, config: configText(jobsYaml) });
}
