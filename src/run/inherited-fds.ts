/**
 * Jobs get stdin, stdout and stderr, and no other file descriptor of the daemon. Node and libuv open every
 * descriptor of their own with close-on-exec, so a job never sees those; but a descriptor the daemon inherited
 * from whoever started it (`exec 251>/tmp/x; exec watchbell daemon`) is open without it, and every job would
 * inherit it in turn. Node has no fcntl() to set close-on-exec, so such descriptors are closed at start.
 */
import { closeSync, readdirSync, readFileSync } from 'node:fs';

// O_CLOEXEC as /proc/PID/fdinfo shows it (`flags:` is octal).
const O_CLOEXEC = 0o2000000;

/**
 * Closes every descriptor above 2 that is open without close-on-exec (so not Node's own), except an IPC
 * channel Node was given (NODE_CHANNEL_FD). Returns the ones it closed; [] where /proc is not there.
 */
export function closeInheritedFds(env: NodeJS.ProcessEnv = process.env): number[] {
  let names: string[];
  try {
    names = readdirSync('/proc/self/fd');
  } catch {
    return [];
  }
  const keep = new Set([0, 1, 2, Number(env.NODE_CHANNEL_FD ?? -1)]);
  const closed: number[] = [];
  for (const name of names) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || keep.has(fd)) continue;
    let flags: number;
    try {
      const m = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      if (!m) continue;
      flags = parseInt(m[1]!, 8);
    } catch {
      // Gone already (the descriptor readdir itself used), or not ours to read.
      continue;
    }
    if (flags & O_CLOEXEC) continue;
    try {
      closeSync(fd);
      closed.push(fd);
    } catch {
      // Closed meanwhile: nothing to do.
    }
  }
  return closed;
}
