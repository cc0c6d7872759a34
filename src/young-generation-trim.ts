/**
 * Gives back, once the daemon is idle, the young generation a burst of work grew. A burst of API requests
 * (5,000 creates) grows V8's semi-spaces to their 16 MiB maximum, and V8 shrinks them only at a scavenge
 * that finds the allocation rate low; an idle daemon allocates nearly nothing, so no scavenge comes and the
 * ~30 MiB stay resident for good (docs/benchmarks.md, issue 16 item 2). When the event loop was nearly idle
 * over the last interval and new space is larger than the daemon needs at rest, a few scavenges (well under
 * a millisecond each with an empty young generation, 20 ms apart) let V8 see the low rate and shrink it. A busy daemon is
 * never touched: its semi-spaces are what its load asks for. `gc` comes from heap-compaction.ts.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { getHeapSpaceStatistics } from 'node:v8';
import { exposedGc } from './heap-compaction.js';

/** How often idleness is looked at; the timer never keeps the process alive. */
const CHECK_EVERY_MS = 1_000;
/** Event-loop utilization below which the last interval counts as idle. */
const IDLE_UTILIZATION = 0.05;
/** New space at rest after the start (held, young-generation.ts) is ~2 MiB; above this a trim is worth it. */
const TRIM_ABOVE_BYTES = 6 * 1024 * 1024;
/** V8 judges the allocation rate over its last collections: 11-20 spaced scavenges made it shrink, on a loaded machine too. */
const MAX_SCAVENGES = 32;
/** Between two scavenges of a trim (see trimYoungGeneration). */
const SPACING_MS = 20;

/** New space's reserved size, in bytes. */
export function newSpaceBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/**
 * Scavenges until new space shrinks below TRIM_ABOVE_BYTES (at most MAX_SCAVENGES), SPACING_MS apart; resolves
 * with the scavenges run, or null when `gc` cannot be had. V8 reads the allocation rate over its last
 * collections, in bytes per millisecond of the time between them: scavenges back to back are so close that
 * the little each allocates can still read as a high rate (seen under load); spaced, they read as the idle
 * daemon's rate. If it does not shrink, the next idle second tries again.
 */
export async function trimYoungGeneration(): Promise<number | null> {
  const collect = exposedGc();
  if (!collect) return null;
  let n = 0;
  while (n < MAX_SCAVENGES && newSpaceBytes() > TRIM_ABOVE_BYTES) {
    if (n > 0) await delay(SPACING_MS);
    collect({ type: 'minor' });
    n++;
  }
  return n;
}

/** Trims the young generation whenever the daemon has been idle for an interval; returns a stop function. */
export function trimYoungGenerationWhenIdle(): () => void {
  let last = performance.eventLoopUtilization();
  let trimming = false;
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const idle = performance.eventLoopUtilization(now, last).utilization < IDLE_UTILIZATION;
    last = now;
    if (!idle || trimming || newSpaceBytes() <= TRIM_ABOVE_BYTES) return;
    trimming = true;
    void trimYoungGeneration().finally(() => (trimming = false));
  }, CHECK_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
