/** One notification: which event, the job and the execution as the API shows them; and the facts people read in chat and mail. */
import { formatDuration } from '../jobs/duration.js';
import type { Execution } from '../jobs/execution.js';
import type { NotifyEvent } from '../jobs/notify-rule.js';
import type { JobView } from '../service/job-view.js';

export interface Notification {
  /** Unique, and the same on every attempt: receivers drop a repeated delivery by it (`X-Watchbell-Delivery`). */
  id: string;
  event: NotifyEvent;
  /** As `GET /api/v1/jobs/{id}` answers it: environment values are `******`. */
  job: JobView;
  /** As `GET /api/v1/jobs/{id}/executions/{eid}` answers it. */
  execution: Execution;
  /** Links built from `daemon.public_url`; null without one. */
  links: { execution: string; log: string } | null;
}

/**
 * The event a notifier is sent for an execution, given every event its `notify:` entries ask for; null for none.
 * One message per notifier and execution: the most specific event asked for wins (recovered, then success or
 * failure, then finish). Cancelled executions (an operator, `replace`, or shutdown stopped them) are not notified.
 */
export function eventFor(wanted: ReadonlySet<NotifyEvent>, status: Execution['status'], recovered: boolean): NotifyEvent | null {
  if (status === 'skipped') return wanted.has('skipped') ? 'skipped' : null;
  if (status !== 'success' && status !== 'failure') return null;
  if (status === 'success' && recovered && wanted.has('recovered')) return 'recovered';
  if (wanted.has(status)) return status;
  return wanted.has('finish') ? 'finish' : null;
}

/** Links to an execution and its log under `publicUrl` (which has no trailing slash). */
export function linksFor(publicUrl: string | null, e: Execution): Notification['links'] {
  if (!publicUrl) return null;
  return { execution: `${publicUrl}/api/v1/jobs/${e.job_id}/executions/${e.id}`, log: `${publicUrl}${e.log_route}` };
}

/** `failed`, `succeeded`, `recovered`, `was skipped`: what happened, for a subject or a chat line. */
export function outcomeWords(n: Notification): string {
  switch (n.event) {
    case 'recovered': return 'recovered';
    case 'skipped': return 'was skipped';
    default: return n.execution.status === 'success' ? 'succeeded' : 'failed';
  }
}

/** The job as people know it: its name, and its id when the name differs. Never more than one line. */
export function jobTitle(job: JobView): string {
  const name = job.name.replace(/\s+/g, ' ').trim();
  return name === job.id ? name : `${name} (${job.id})`;
}

/** `12.3s`, `2m3s`, or `-` for an execution that did not run. */
export function durationText(seconds: number | null): string {
  if (seconds === null) return '-';
  return seconds < 60 ? `${Math.round(seconds * 10) / 10}s` : formatDuration(Math.round(seconds));
}

/** The facts shown in chat and mail, label -> value, in reading order; the error line and output come apart. */
export function facts(n: Notification): Array<[string, string]> {
  const e = n.execution;
  const out: Array<[string, string]> = [
    ['Status', e.status],
    ['Duration', durationText(e.duration)],
    ['Exit code', e.exit_code === null ? (e.signal ? `none (signal ${e.signal})` : 'none') : String(e.exit_code)],
    ['Trigger', e.scheduled_at ? `${e.trigger} (slot ${e.scheduled_at})` : e.trigger],
  ];
  if (e.attempts.length > 1) out.push(['Attempts', String(e.attempts.length)]);
  if (e.steps) {
    // The step the execution's status comes from: the first that failed (or was cancelled).
    const failed = e.steps.find((s) => s.status === 'failure' || s.status === 'cancelled');
    if (failed) out.push(['Failed step', failed.name]);
    out.push(['Steps', e.steps.map((s) => `${s.name} ${s.reused ? 'reused' : s.status}`).join(', ')]);
  }
  return out;
}

// Colours and cursor moves make no sense in a chat message or a mail.
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** The last `lines` lines of an execution's output (its last 4 KiB), each cut at `width`, without terminal escapes. */
export function outputTail(output: string, lines: number, width = 200): string {
  const all = output.replace(ANSI, '').replace(/\r\n?/g, '\n').replace(/\n+$/, '').split('\n');
  return all
    .slice(-lines)
    .map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l))
    .join('\n');
}
