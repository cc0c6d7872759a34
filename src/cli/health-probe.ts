/**
 * The container image's HEALTHCHECK: `node dist/src/cli/health-probe.js` exits 0 when the daemon's
 * GET /health answers 200, else 1 with the reason on stdout (Docker keeps it in `inspect`'s health log).
 * It asks where the config says the daemon listens (`daemon.listen` of $WATCHBELL_CONFIG, `${VAR}`s
 * replaced), so a config that moves the port or uses a unix socket keeps the container healthy. It reads
 * only the `daemon:` section: validating a config of 100,000 jobs every 30 seconds would be a load of its own.
 */
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { CORE_SCHEMA, load } from 'js-yaml';
import { interpolate } from '../config/interpolate.js';
import { parseListen, type ListenAddress } from '../config/listen.js';
import { DAEMON_DEFAULTS } from '../config/settings.js';

const DEFAULT_CONFIG = '/etc/watchbell/watchbell.yaml';
const TIMEOUT_MS = 4000;

/** Where to ask for /health: the configured address, with a wildcard host asked on loopback. */
function probeTarget(address: ListenAddress): { socketPath: string } | { host: string; port: number } {
  if (address.kind === 'unix') return { socketPath: address.path };
  const host = address.host === '0.0.0.0' ? '127.0.0.1' : address.host === '::' ? '::1' : address.host;
  return { host, port: address.port };
}

/** The listen address a config file sets (the default when it sets none). */
async function configuredListen(file: string, env: NodeJS.ProcessEnv = process.env): Promise<ListenAddress> {
  const doc = load(await readFile(file, 'utf8'), { schema: CORE_SCHEMA }) as { daemon?: { listen?: unknown } } | null;
  const raw = doc?.daemon?.listen ?? DAEMON_DEFAULTS.listen;
  const { value, errors } = interpolate(raw, env);
  if (errors.length) throw new Error(errors[0]!.message);
  const { address, error } = parseListen(String(value));
  if (!address) throw new Error(`daemon.listen ${JSON.stringify(value)} ${error}`);
  return address;
}

function getHealth(target: ReturnType<typeof probeTarget>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ ...target, path: '/health', method: 'GET', timeout: TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function probe(): Promise<number> {
  const file = process.env.WATCHBELL_CONFIG || DEFAULT_CONFIG;
  try {
    const target = probeTarget(await configuredListen(file));
    const status = await getHealth(target);
    const where = 'socketPath' in target ? `unix:${target.socketPath}` : `${target.host}:${target.port}`;
    process.stdout.write(`GET ${where}/health: ${status}\n`);
    return status === 200 ? 0 : 1;
  } catch (err) {
    process.stdout.write(`health probe (config ${file}): ${(err as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await probe();
