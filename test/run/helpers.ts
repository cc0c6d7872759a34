/** Shared by the run/ tests: an in-memory log sink, temp dirs, pid checks and bounded polling. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogSink } from '../../src/run/log-sink.js';

export interface MemorySink extends LogSink {
  chunks: { stream: 'stdout' | 'stderr'; text: string }[];
  notes: string[];
  /** All output of one stream, or of both in arrival order. */
  text(stream?: 'stdout' | 'stderr'): string;
}

/** A LogSink that keeps everything in memory. */
export function memorySink(): MemorySink {
  const sink: MemorySink = {
    chunks: [],
    notes: [],
    write(stream, chunk) {
      sink.chunks.push({ stream, text: chunk.toString() });
    },
    note(text) {
      sink.notes.push(text);
    },
    text(stream) {
      return sink.chunks.filter((c) => stream === undefined || c.stream === stream).map((c) => c.text).join('');
    },
  };
  return sink;
}

/** A fresh temp dir, removed by the returned cleanup. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'watchbell-run-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** True while `pid` is a live process; a zombie counts as gone (this container's init does not reap). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Polls `check` until it returns a truthy value, failing after `timeoutMs`. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Waits until `file` lists `count` pids, one a line, and returns them. */
export async function readPids(file: string, count: number): Promise<number[]> {
  return waitFor(async () => {
    const text = await readFile(file, 'utf8').catch(() => '');
    const pids = text.split('\n').filter(Boolean).map(Number);
    return pids.length >= count ? pids : null;
  }, `${count} pids in ${file}`);
}

/** Kills leftovers of a failed test so they do not outlive the run. */
export function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
