/** Process groups a test leaves behind on purpose (a SIGKILLed daemon's jobs outlive it), and polling. */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** SIGKILLs each process group in `groups` and empties the list; groups already gone are skipped. */
export function killGroups(groups: number[]): void {
  for (const g of groups.splice(0)) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Resolves with `probe`'s first defined answer, tried every 20 ms for up to `ms`; rejects naming `what`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The process group an execution's pid file names, once the runner has written it (it has no event of its own). */
export function groupOf(pidFile: string): Promise<number> {
  return until(`the pid file ${pidFile}`, async () => Number((await readFile(pidFile, 'utf8').catch(() => '')).trim()) || undefined);
}

/** True while the process leading a group runs (a zombie, which this container's init may never reap, does not). */
export function alive(group: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${group}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
