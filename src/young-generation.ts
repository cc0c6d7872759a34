/**
 * An idle daemon's young generation. Loading the daemon's modules makes a burst of objects that survive
 * (compiled code, schemas, the router): V8 reads that survival as a sign to grow its semi-spaces from 1 to
 * 8 MiB each, and keeps them so, ~11 MiB of an empty daemon's RSS (docs/benchmarks.md, issue 16) for a heap
 * that then holds ~5 MiB of young objects. Growth is held off while the daemon starts and given back once it
 * is up, so a busy daemon still grows them as before: `--max-semi-space-size` would cap them for good, and
 * the API under a storm of due jobs then scavenges more often.
 */
import { statSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

const FLAG = 'semi-space-growth-factor';
/** V8's default growth factor (node --v8-options), restored at release. */
const DEFAULT_GROWTH = 2;

let held = false;

/** Stops the semi-spaces from growing until `releaseYoungGeneration()`; not when the user set the factor. */
export function holdYoungGeneration(): void {
  if (held || userSetsGrowth()) return;
  setFlagsFromString(`--${FLAG}=1`);
  held = true;
}

/**
 * Above this many bytes of config file, growth is given back before the config is read: parsing 100,000 jobs
 * with the semi-spaces held at 1 MiB took 15-35% more CPU (~1 s); ~500 jobs are ~64 KiB.
 */
const LARGE_CONFIG_BYTES = 64 * 1024;

/** Releases the hold now when `configFile` is large (its jobs, not the modules, will fill the heap). */
export function releaseForLargeConfig(configFile: string): void {
  let size = 0;
  try {
    size = statSync(configFile).size;
  } catch {
    return; // the config load reports a missing file
  }
  if (size > LARGE_CONFIG_BYTES) releaseYoungGeneration();
}

/** Lets the semi-spaces grow again, as V8 does by default. */
export function releaseYoungGeneration(): void {
  if (!held) return;
  setFlagsFromString(`--${FLAG}=${DEFAULT_GROWTH}`);
  held = false;
}

function userSetsGrowth(): boolean {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
  return given.includes(FLAG) || given.includes(FLAG.replace(/-/g, '_'));
}
