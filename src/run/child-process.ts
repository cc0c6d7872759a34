/**
 * A job's process through node:child_process, as command.ts needs it: its own process group, stdin closed,
 * stdout and stderr as pipes, and a promise of how it ended that never rejects (a failed spawn is a result).
 *
 * Why not execa: for this one shape of call it halved the spawn rate (run-now of `true`: execa 0.46 of raw
 * spawn, this 0.7, docs/benchmarks.md), and its import cost ~80 ms and 3 MiB at every start. Nothing of what
 * it adds (buffering, encodings, pipes between processes, Windows) is used here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface ProcessOptions {
  /** Added to the daemon's environment. */
  env: Record<string, string>;
  cwd?: string;
  uid?: number;
  gid?: number;
}

/** How the process ended: an exit code or a signal; `cause` when it could not be spawned. */
export interface ProcessEnd {
  exitCode?: number;
  signal?: string;
  /** The spawn error (`spawn /bin/sh ENOENT`); the process never ran. */
  cause?: unknown;
  originalMessage?: string;
  shortMessage?: string;
}

/** A spawned process, awaitable: it settles once the process has exited and its pipes have closed. */
export type ChildRun = Promise<ProcessEnd> & {
  /** undefined when the spawn failed. */
  readonly pid: number | undefined;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
};

/** Spawns `file args` detached (a process-group leader) with pipes for stdout and stderr. Never throws. */
export function spawnChild(file: string, args: readonly string[], options: ProcessOptions): ChildRun {
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
      uid: options.uid,
      gid: options.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
  } catch (cause) {
    // Arguments Node refuses before any spawn (e.g. a NUL byte): the same kind of result as a failed spawn.
    return Object.assign(Promise.resolve<ProcessEnd>({ cause }), { pid: undefined, stdout: null, stderr: null });
  }
  const ended = new Promise<ProcessEnd>((resolve) => {
    child.once('error', (cause) => {
      // After a spawn that worked an 'error' is a failed kill; process-tree.ts signals the group itself.
      if (child.pid === undefined) resolve({ cause });
    });
    child.once('close', (code, signal) => resolve({ exitCode: code ?? undefined, signal: signal ?? undefined }));
  });
  return Object.assign(ended, { pid: child.pid, stdout: child.stdout, stderr: child.stderr });
}
