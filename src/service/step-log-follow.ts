/**
 * `…/log?step=NAME&follow=true`: one step's part of a log while the execution goes on. A step's part only
 * grows, so each tick re-reads it (store/log-steps.ts) and sends what is new; reading it whole each tick costs
 * O(log) per tick, fine for the logs a step writes while someone watches.
 */
import { lastLines } from '../store/log-steps.js';
import { delay } from '../run/timers.js';
import { FOLLOW_POLL_MS, SHUTDOWN_NOTE } from './log-follow.js';

export interface FollowStepLogOptions {
  /** Reads the step's part as it is now. */
  read: () => Promise<string>;
  /** Start from its last `tail` lines instead of its start. */
  tail?: number;
  ended: Promise<unknown>;
  isEnded: () => boolean;
  stopping?: () => boolean;
  signal: AbortSignal;
}

/** Yields the step's part so far, then what is added, until the execution has ended. */
export async function* followStepLog(o: FollowStepLogOptions): AsyncGenerator<Buffer, void, undefined> {
  let over = false;
  o.ended.then(() => (over = true), () => undefined);
  let sent = -1;
  while (!o.signal.aborted) {
    const finished = over || o.isEnded();
    const text = await o.read();
    if (sent < 0) {
      const first = o.tail === undefined ? text : lastLines(text, Math.floor(o.tail));
      if (first) yield Buffer.from(first);
      sent = text.length;
    } else if (text.length > sent) {
      yield Buffer.from(text.slice(sent));
      sent = text.length;
    }
    if (finished) return;
    if (o.stopping?.()) {
      yield Buffer.from(SHUTDOWN_NOTE);
      return;
    }
    await delay(FOLLOW_POLL_MS, o.signal);
  }
}
