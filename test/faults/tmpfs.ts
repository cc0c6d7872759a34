/** A small tmpfs for fault tests: mounted where the test says, or a reason why it cannot be (and CI refuses to skip). */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Mounts a tmpfs of `size` (e.g. "4m") at `dir`, mode 0700 (the daemon refuses a data dir others may write); resolves with why not when it cannot (no root, no mount). */
export async function mountTmpfs(dir: string, size: string): Promise<string | null> {
  await mkdir(dir, { recursive: true });
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
    return null;
  } catch (err) {
    return `cannot mount a tmpfs at ${dir}: ${(err as Error).message.trim()}`;
  }
}

/** Unmounts what mountTmpfs mounted (lazily, so a process still holding a file does not stop it). */
export async function unmount(dir: string): Promise<void> {
  await run('umount', ['-l', dir]).catch(() => undefined);
}

/**
 * Skips the calling test (printing why) when `reason` is set; with CI set, fails instead, as the tests
 * of the container engine do: in CI the fault tests must run.
 */
export function skipUnlessMounted(ctx: Mocha.Context, reason: string | null): void {
  if (reason === null) return;
  if (process.env.CI) throw new Error(`${reason}; CI is set, so this fault test may not be skipped (run it as root)`);
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}
