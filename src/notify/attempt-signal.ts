/** The deadline of one delivery attempt: its own timeout, or the daemon stopping, whichever comes first. */

export interface AttemptSignal {
  signal: AbortSignal;
  /** True when the attempt was cut by its timeout (not by the daemon stopping). */
  timedOut(): boolean;
  /** Clears the timer and the listener on `stop`; call once the attempt is over. */
  done(): void;
}

/**
 * A signal aborted after `timeoutMs` or when `stop` aborts. Not AbortSignal.any: on Node 20 it keeps a
 * reference from the long-lived `stop` signal for each attempt, and a daemon makes attempts for months.
 */
export function attemptSignal(stop: AbortSignal, timeoutMs: number): AttemptSignal {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException(`no answer within ${timeoutMs / 1000}s`, 'TimeoutError'));
  }, timeoutMs);
  const onStop = () => controller.abort(stop.reason);
  if (stop.aborted) onStop();
  else stop.addEventListener('abort', onStop, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    done: () => {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
    },
  };
}

/** `promise`, or a rejection with the signal's reason as soon as `signal` aborts (for APIs that take no signal). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}
