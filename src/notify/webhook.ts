/** Webhook notifications: a POST of JSON (ours, or a Slack message), signed when the notifier has a secret. */
import { attemptSignal } from './attempt-signal.js';
import type { WebhookNotifier } from './notifier-config.js';
import type { Notification } from './notification.js';
import { STOPPED, timedOut, type Sender, type SendResult } from './sender.js';
import { SIGNATURE_HEADER, signBody } from './signature.js';
import { slackMessage } from './slack-format.js';

/** The JSON body of `format: json`: the event, and the job and execution as the API shows them. */
export function webhookBody(n: Notification): string {
  return JSON.stringify({ event: n.event, job: n.job, execution: n.execution });
}

/** Longest wait a 429's Retry-After may ask for; longer and the notification would be stale. */
const MAX_RETRY_AFTER_MS = 60_000;

/** Sends notifications as POSTs to the notifier's URL. */
export function webhookSender(n: WebhookNotifier, userAgent: string): Sender {
  const kind = n.format === 'slack' ? 'slack' : 'webhook';
  return {
    kind,
    async send(notification, signal): Promise<SendResult> {
      const body = n.format === 'slack' ? JSON.stringify(slackMessage(notification)) : webhookBody(notification);
      const headers: Record<string, string> = {
        ...n.headers,
        'content-type': 'application/json',
        'user-agent': userAgent,
        'x-watchbell-event': notification.event,
        'x-watchbell-delivery': notification.id,
      };
      if (n.secret) headers[SIGNATURE_HEADER.toLowerCase()] = signBody(body, n.secret);
      const deadline = attemptSignal(signal, n.timeout * 1000);
      try {
        return await post(n.url, body, headers, deadline.signal);
      } catch (err) {
        return networkFailure(err, signal, deadline.timedOut(), n.timeout);
      } finally {
        deadline.done();
      }
    },
  };
}

/** One POST; throws only when no answer came (network error, timeout, abort). */
async function post(url: string, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<SendResult> {
  // A redirect would resend the signed body to a place the config never named.
  const res = await fetch(url, { method: 'POST', body, headers, redirect: 'manual', signal });
  if (res.status >= 200 && res.status < 300) {
    await res.body?.cancel().catch(() => undefined);
    return { ok: true, status: res.status };
  }
  const answer = await shortText(res);
  const error = `answered ${res.status}${answer ? `: ${answer}` : ''}`;
  if (res.status >= 300 && res.status < 400) {
    return { ok: false, retryable: false, status: res.status, code: 'HTTP_REDIRECT', error: `${error} (redirects are not followed; give the final URL)` };
  }
  // 429 is the one 4xx worth another try: the receiver asks us to slow down, not to stop (Slack does this).
  if (res.status === 429) return { ok: false, retryable: true, status: 429, code: 'HTTP_STATUS', error, ...retryAfter(res) };
  return { ok: false, retryable: res.status >= 500, status: res.status, code: 'HTTP_STATUS', error };
}

function networkFailure(err: unknown, stop: AbortSignal, cut: boolean, timeoutSeconds: number): SendResult {
  if (cut) return timedOut(timeoutSeconds);
  if (stop.aborted) return STOPPED;
  const e = err as Error & { cause?: { code?: string; message?: string } };
  // fetch says only "fetch failed"; the cause has the socket's error (ECONNREFUSED, ENOTFOUND, a TLS failure...).
  const detail = e.cause?.message ?? e.cause?.code ?? e.message;
  return { ok: false, retryable: true, status: null, code: 'NETWORK', error: detail };
}

/** The start of an error answer, one line (receivers put the reason there: Slack's `invalid_payload`). */
async function shortText(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  // Only the first bytes: a receiver answering a huge error page must not cost memory.
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < 1024) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } catch {
    // What was read is enough.
  } finally {
    reader.cancel().catch(() => undefined);
  }
  const text = Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim();
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

function retryAfter(res: Response): { retryAfterMs?: number } {
  const seconds = Number(res.headers.get('retry-after'));
  return Number.isFinite(seconds) && seconds > 0 ? { retryAfterMs: Math.min(seconds * 1000, MAX_RETRY_AFTER_MS) } : {};
}
