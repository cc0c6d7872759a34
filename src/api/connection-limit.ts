/**
 * How many connections the API holds open at once, so that clients cannot take every file descriptor the
 * daemon needs to run jobs (issue 13: 300 idle connections under `ulimit -n 256` made a job's spawn fail).
 *
 * Node raises its soft RLIMIT_NOFILE to the hard limit by itself at start (src/node.cc, PlatformInit), so
 * the daemon has no setrlimit of its own to call; the hard limit is the unit's `LimitNOFILE` or the shell's
 * `ulimit -Hn`. The cap is computed from the limit actually in force, read from /proc/self/limits.
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** Descriptors kept for the daemon itself: stdio, epoll, the store's files, the config watcher, DNS, notifier sockets. */
const BASE_RESERVE = 64;
/** Descriptors one running job may use: stdout and stderr pipes, its log and index, its pid file, a spare. */
const PER_JOB = 6;
/** Refused connections answered at once, beyond which further ones are closed without an answer. */
const REFUSING_MAX = 64;
/** How long a refused client has to read its 503 before its socket is destroyed. */
const REFUSED_LINGER_MS = 1000;

/** The soft limit on open files of this process, from /proc/self/limits; undefined where that cannot be read. */
export function openFileLimit(): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === undefined) return undefined;
  return soft === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(soft) || undefined;
}

/**
 * The descriptors left for connections once the daemon's own and `maxConcurrency` running jobs' are kept aside,
 * halved because a connection reading a log holds the log file open too; at least 16, at most 10,000.
 */
export function defaultMaxConnections(fdLimit: number | undefined, maxConcurrency: number): number {
  if (fdLimit === undefined) return 1000;
  const room = Math.floor((fdLimit - BASE_RESERVE - PER_JOB * maxConcurrency) / 2);
  return Math.max(16, Math.min(10_000, room));
}

/**
 * Caps the server's open connections at `max`. One more is answered `503 TOO_MANY_CONNECTIONS` and closed
 * before the HTTP parser sees it (Node's own `server.maxConnections` closes it without a word); if refusals
 * pile up past REFUSING_MAX, the rest are closed unanswered, which `maxConnections` then does for us.
 */
export function capConnections(server: Server, max: number, onRefused: (open: number) => void): void {
  let open = 0;
  let refusing = 0;
  server.maxConnections = max + REFUSING_MAX;
  // http.Server parses a connection in its own 'connection' listener; it is taken out and called only for
  // connections within the cap, so a refused one never reaches Koa.
  const httpListeners = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    if (open >= max) {
      refuse(socket);
      return;
    }
    open++;
    socket.once('close', () => open--);
    for (const listener of httpListeners) listener.call(server, socket);
  });

  function refuse(socket: Socket): void {
    refusing++;
    socket.once('close', () => refusing--);
    socket.on('error', () => undefined);
    if (refusing === 1 || refusing % 100 === 0) onRefused(open);
    if (refusing > REFUSING_MAX) {
      socket.destroy();
      return;
    }
    socket.end(TOO_MANY);
    setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
  }
}

const BODY = JSON.stringify({
  error: { code: 'TOO_MANY_CONNECTIONS', message: 'the daemon holds as many connections as daemon.max_connections allows; retry later' },
});
const TOO_MANY = `HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n${BODY}`;
