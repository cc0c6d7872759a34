/** Timers for durations longer than Node's setTimeout allows, and an abortable wait that leaves no timer behind. */
import { setTimeout as sleep } from 'node:timers/promises';

/** setTimeout fires at once (with a warning) for delays above this; job timeouts may be weeks. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Calls `fn` after `ms` (any length); returns a function that cancels it. */
export function setLongTimeout(fn: () => void, ms: number): () => void {
  let timer: NodeJS.Timeout;
  const arm = (left: number) => {
    timer = setTimeout(() => (left > MAX_TIMER_MS ? arm(left - MAX_TIMER_MS) : fn()), Math.min(left, MAX_TIMER_MS));
  };
  arm(Math.max(0, ms));
  return () => clearTimeout(timer);
}

/** Waits `ms`; resolves true when the time passed, false at once when `signal` aborts (the timer is cleared). */
export async function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  let left = Math.max(0, ms);
  try {
    do {
      const step = Math.min(left, MAX_TIMER_MS);
      await sleep(step, undefined, { signal });
      left -= step;
    } while (left > 0);
    return true;
  } catch (err) {
    if (signal.aborted) return false;
    throw err;
  }
}

/** Milliseconds as people read them in messages: 3600000 -> `3600s`, 500 -> `0.5s`. */
export function formatSeconds(ms: number): string {
  return `${Math.round(ms) / 1000}s`;
}
