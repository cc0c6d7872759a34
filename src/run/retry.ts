/** The attempt loop of one execution: retries after failures, with an abortable wait between attempts. */
import type { AttemptResult } from './command.js';
import type { LogSink } from './log-sink.js';
import { delay, formatSeconds } from './timers.js';

export interface RetryOptions {
  /** Further attempts after a failed one. */
  retries: number;
  /** Wait before each retry. */
  retryDelayMs: number;
  log: LogSink;
  /** Aborting it ends the loop: the running attempt is cancelled, no retry follows. */
  signal: AbortSignal;
  /** Runs attempt `n` (1-based). */
  attempt: (n: number) => Promise<AttemptResult>;
  /** Called after each attempt that will be retried, e.g. to record progress. */
  onRetry?: (attempts: readonly AttemptResult[]) => Promise<void> | void;
}

export interface RetryOutcome {
  attempts: AttemptResult[];
  /** True when the signal ended the loop, during an attempt or while waiting to retry. */
  cancelled: boolean;
}

/** True when an attempt needs no retry. */
export function succeeded(attempt: AttemptResult): boolean {
  return attempt.reason === 'exit' && attempt.exit_code === 0;
}

/** Runs up to 1 + retries attempts, stopping after a success or a cancel. */
export async function runWithRetries(options: RetryOptions): Promise<RetryOutcome> {
  const total = 1 + Math.max(0, options.retries);
  const attempts: AttemptResult[] = [];
  for (let n = 1; n <= total; n++) {
    if (n > 1) {
      await options.onRetry?.(attempts);
      if (!(await delay(options.retryDelayMs, options.signal))) {
        options.log.note(`--- cancelled while waiting to retry (attempt ${n} of ${total} not run) ---`);
        return { attempts, cancelled: true };
      }
      options.log.note(`--- attempt ${n} of ${total} (retry after ${formatSeconds(options.retryDelayMs)}) ---`);
    }
    const result = await options.attempt(n);
    attempts.push(result);
    if (succeeded(result) || result.reason === 'cancelled' || options.signal.aborted) break;
  }
  const last = attempts.at(-1)!;
  // A cancel that lands between a failed attempt and its retry still makes the execution cancelled.
  return { attempts, cancelled: last.reason === 'cancelled' || (options.signal.aborted && !succeeded(last)) };
}
