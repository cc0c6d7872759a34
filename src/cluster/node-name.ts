/** The default name of a cluster node. */
import { hostname } from 'node:os';
import { parseListen } from '../config/listen.js';

/**
 * `<hostname>:<port>` for a fixed TCP port. With port 0 or a Unix socket the port says nothing stable, so
 * the data dir stands in (`<hostname>:<data_dir>`): the data dir's lock makes it one daemon's per host, and a
 * daemon restarted on it is the same node again.
 */
export function defaultNodeName(listen: string, dataDir: string): string {
  const { address } = parseListen(listen);
  if (address?.kind === 'tcp' && address.port !== 0) return `${hostname()}:${address.port}`;
  return `${hostname()}:${dataDir}`;
}
