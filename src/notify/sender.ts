/** What every delivery channel (webhook, Slack-style chat, email) offers the queue: one attempt, whose failure is data. */
import type { NotifyAttempt } from '../jobs/events.js';
import type { Notification } from './notification.js';

/**
 * How one attempt went. A failed delivery is a result, not an exception: `retryable` says whether trying again
 * may help (5xx, network errors, timeouts) or not (4xx, a refused login), and `code` is stable for logs and alerts.
 */
export type SendResult =
  | { ok: true; status: number | null }
  | { ok: false; retryable: boolean; status: number | null; code: string; error: string; retryAfterMs?: number };

export interface Sender {
  readonly kind: NonNullable<NotifyAttempt['kind']>;
  /** One attempt; `signal` aborts it when the daemon stops. Never throws. */
  send(notification: Notification, signal: AbortSignal): Promise<SendResult>;
}

/** An attempt cut short because the daemon is stopping: not worth a retry. */
export const STOPPED: SendResult = Object.freeze({ ok: false, retryable: false, status: null, code: 'ABORTED', error: 'stopped: the daemon is shutting down' });

/** An attempt that got no answer within the notifier's `timeout`: worth a retry. */
export function timedOut(seconds: number): SendResult {
  return { ok: false, retryable: true, status: null, code: 'TIMEOUT', error: `no answer within ${seconds}s` };
}
