/** The API's listen address: checked before anything starts, bound, and released at stop. */
import { rm, chmod, lstat } from 'node:fs/promises';
import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { isLoopback, parseListen, type ListenAddress } from '../config/listen.js';
import { WatchbellError } from '../jobs/errors.js';

/** Parses `daemon.listen`; refuses a non-loopback TCP address without API tokens. */
export function checkListen(listen: string, tokenCount: number): ListenAddress {
  const { address, error } = parseListen(listen);
  if (!address) throw new WatchbellError('LISTEN_REFUSED', `listen address ${JSON.stringify(listen)} ${error}`);
  if (address.kind === 'tcp' && !isLoopback(address.host) && tokenCount === 0) {
    throw new WatchbellError(
      'LISTEN_REFUSED',
      `refusing to listen on ${listen} without API tokens: anyone who reaches the API can run commands on this host. ` +
        'Add a token under api.tokens in the config, or listen on 127.0.0.1.',
    );
  }
  return address;
}

/** Binds `server` to `address`; returns the daemon's url (`http://host:port` or `unix:/path`). */
export async function listen(server: Server, address: ListenAddress): Promise<string> {
  if (address.kind === 'unix') await removeStaleSocket(address.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (address.kind === 'unix') {
      // The socket is created inside listen(): with this umask it is never, even briefly, open to other users.
      const umask = process.umask(0o117);
      try {
        server.listen(address.path, resolve);
      } finally {
        process.umask(umask);
      }
    } else server.listen(address.port, address.host, resolve);
  });
  if (address.kind === 'unix') {
    await chmod(address.path, 0o660);
    return `unix:${address.path}`;
  }
  const info = server.address() as AddressInfo;
  const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
  return `http://${host}:${info.port}`;
}

/**
 * Removes a socket left by a daemon that died. A socket something still listens on (another daemon, another
 * service) is never taken over, and anything else at that path is never deleted: both refuse the start.
 */
async function removeStaleSocket(path: string): Promise<void> {
  const found = await lstat(path).catch(() => undefined);
  if (!found) return;
  if (!found.isSocket()) {
    throw new WatchbellError('LISTEN_REFUSED', `listen address unix:${path}: ${path} exists and is not a socket; choose another path`);
  }
  const answer = await socketAnswers(path);
  if (answer !== 'ECONNREFUSED') {
    const why = answer === 'listening' ? `a process is listening on ${path} (another watchbell?)` : `${path} could not be checked (${answer})`;
    throw new WatchbellError('LISTEN_REFUSED', `listen address unix:${path}: ${why}; stop it or choose another path`);
  }
  await rm(path, { force: true });
}

/** Connects to a unix socket: 'listening', or the error code (ECONNREFUSED: nobody listens, the socket is dead). */
function socketAnswers(path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const timer = setTimeout(() => {
      socket.destroy();
      // A listener too busy to accept within 2 s is still alive.
      resolve('listening');
    }, 2000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('listening');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
  });
}

/** Closes the server (requests still open after 1 s are cut) and removes its unix socket. */
export async function closeServer(server: Server, address: ListenAddress): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // Requests still open after the grace of shutdown are cut.
    setTimeout(() => server.closeAllConnections(), 1000).unref();
  });
  if (address.kind === 'unix') await rm(address.path, { force: true });
}
