/** Email notifications through an SMTP server (nodemailer): a subject with the job and its outcome, the facts and the log tail. */
import type { Transporter } from 'nodemailer';
import { attemptSignal, untilAborted } from './attempt-signal.js';
import type { EmailNotifier } from './notifier-config.js';
import { facts, jobTitle, outcomeWords, outputTail, type Notification } from './notification.js';
import { STOPPED, timedOut, type Sender, type SendResult } from './sender.js';

/** Lines of output in a mail: more than in chat, a mail is read at a desk. */
const TAIL_LINES = 40;

export interface EmailMessage {
  subject: string;
  text: string;
}

/** Subject and plain-text body of the mail for a notification. */
export function emailMessage(n: Notification): EmailMessage {
  const e = n.execution;
  const rows: Array<[string, string]> = [['Job', jobTitle(n.job)], ['Event', n.event], ...facts(n)];
  if (e.error) rows.push(['Error', e.error.replace(/\s+/g, ' ').trim()]);
  rows.push(['Started', e.started_at ?? '-'], ['Finished', e.finished_at ?? '-'], ['Execution', e.id]);
  if (n.links) rows.push(['Details', n.links.execution], ['Log', n.links.log]);
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  const lines = rows.map(([label, value]) => `${`${label}:`.padEnd(width)}${value}`);
  const tail = outputTail(e.output, TAIL_LINES, 500);
  if (tail) lines.push('', `Last lines of output:`, '', tail);
  lines.push('', '-- ', 'watchbell');
  return { subject: `[watchbell] ${jobTitle(n.job)} ${outcomeWords(n)}`, text: `${lines.join('\n')}\n` };
}

let nodemailer: Promise<typeof import('nodemailer')> | undefined;

/**
 * Sends notifications as mail through the notifier's SMTP server; one connection per mail (no pool to keep alive).
 * nodemailer is imported when the first email notifier is made (at start, or by the reload that brings one), not
 * with the daemon: most daemons send no mail.
 */
export function emailSender(n: EmailNotifier): Sender {
  const ms = n.timeout * 1000;
  nodemailer ??= import('nodemailer');
  const transport: Promise<Transporter> = nodemailer.then((m) => m.default.createTransport({
    host: n.host,
    port: n.port,
    secure: n.tls === 'implicit',
    // With starttls the password and the mail never travel in clear: no STARTTLS offered is an error, not a fallback.
    requireTLS: n.tls === 'starttls',
    ignoreTLS: n.tls === 'none',
    ...(n.user ? { auth: { user: n.user, pass: n.password ?? '' } } : {}),
    connectionTimeout: ms,
    greetingTimeout: ms,
    socketTimeout: ms,
    logger: false,
  }));
  // A failed import surfaces at the first send, as that attempt's error.
  transport.catch(() => undefined);
  return {
    kind: 'email',
    async send(notification, signal): Promise<SendResult> {
      const { subject, text } = emailMessage(notification);
      const sending = transport.then((t) => t.sendMail({
        from: n.from,
        to: n.to,
        subject,
        text,
        headers: { 'X-Watchbell-Event': notification.event, 'X-Watchbell-Execution': notification.execution.id },
      }));
      // nodemailer's timeouts are per step (connect, greeting, each reply); this one bounds the whole attempt. It
      // takes no AbortSignal: an attempt given up on is left to end by those timeouts.
      const deadline = attemptSignal(signal, ms);
      try {
        const info = await untilAborted(sending, deadline.signal);
        const refused = (info.rejected ?? []).map(String);
        if (refused.length) {
          // Some recipients have the mail: trying again would send it to them twice, so this is reported, not retried.
          const why = (info.rejectedErrors ?? []).map((e: Error) => e.message).join('; ');
          return { ok: false, retryable: false, status: smtpCode(info.response), code: 'SMTP_PARTIAL', error: `sent, but the SMTP server refused ${refused.join(', ')}${why ? `: ${why}` : ''}` };
        }
        return { ok: true, status: smtpCode(info.response) };
      } catch (err) {
        sending.catch(() => undefined);
        return smtpFailure(err, signal, deadline.timedOut(), n.timeout);
      } finally {
        deadline.done();
      }
    },
  };
}

function smtpCode(response: unknown): number | null {
  const m = typeof response === 'string' ? /^(\d{3})/.exec(response) : null;
  return m ? Number(m[1]) : null;
}

/** SMTP says what is worth retrying: 4xx replies are transient, 5xx permanent (bad login, unknown recipient). */
function smtpFailure(err: unknown, stop: AbortSignal, cut: boolean, timeoutSeconds: number): SendResult {
  const e = err as { code?: string; responseCode?: number; message?: string };
  if (cut) return timedOut(timeoutSeconds);
  if (stop.aborted) return STOPPED;
  const status = typeof e.responseCode === 'number' ? e.responseCode : null;
  const message = (e.message ?? String(err)).replace(/\s+/g, ' ').trim();
  // No STARTTLS offered, or a certificate that does not verify: the config or the server must change first.
  if (e.code === 'ETLS') return { ok: false, retryable: false, status, code: 'SMTP_TLS', error: message };
  if (status !== null) {
    return { ok: false, retryable: status < 500, status, code: status < 500 ? 'SMTP_TRANSIENT' : 'SMTP_REJECTED', error: `the SMTP server answered ${message}` };
  }
  if (e.code === 'EAUTH' || e.code === 'EENVELOPE' || e.code === 'EMESSAGE') {
    return { ok: false, retryable: false, status, code: 'SMTP_REJECTED', error: message };
  }

  const slow = e.code === 'ETIMEDOUT' || /timeout/i.test(message);
  return { ok: false, retryable: true, status, code: slow ? 'TIMEOUT' : 'NETWORK', error: message };
}
