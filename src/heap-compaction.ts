/**
 * One full garbage collection after a big config is loaded. Reading 100,000 jobs makes ~300 MB of
 * short-lived objects (the parsed file, validated copies); V8 keeps the heap it grew for them, so the
 * daemon would sit at ~520 MiB RSS where ~370 MiB is what it holds (docs/benchmarks.md). A collection
 * right after the load gives the pages back. Node exposes `gc` only behind a flag, which is turned on
 * here for this one purpose; below LARGE_CONFIG jobs the saving is not worth the pause.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Jobs from which a load is worth a full collection (it takes ~0.1 s at 100,000 jobs). */
export const LARGE_CONFIG = 10_000;

/** V8's `gc()`: a full collection, or a scavenge with `{type: 'minor'}`. */
export type Collect = (options?: { type: 'minor' | 'major' }) => void;

let collectFn: Collect | null | undefined;

/** V8's `gc`, exposed once for the daemon's own use (also young-generation-trim.ts); null if it cannot be. */
export function exposedGc(): Collect | null {
  if (collectFn === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      collectFn = runInNewContext('gc') as Collect;
    } catch {
      collectFn = null;
    }
  }
  return collectFn;
}

/** Runs a full, compacting collection when `jobs` is a large config; returns its duration in ms, or null when skipped. */
export function compactHeapAfterLoad(jobs: number): number | null {
  if (jobs < LARGE_CONFIG) return null;
  const collect = exposedGc();
  if (!collect) return null;
  const started = performance.now();
  collect();
  return performance.now() - started;
}
