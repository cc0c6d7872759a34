/** Logs: pino JSON lines on stdout (one event a line), or pretty lines for people; fed by core events. */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { pino } from './vendor/pino.js';
import type PinoPretty from 'pino-pretty';
import type { DaemonSettings } from './config/settings.js';
import type { Events } from './jobs/events.js';
import type { LostFile } from './store/load-journals.js';

/**
 * Keys whose values are never written, wherever they turn up in a logged object: a second line of
 * defence, since events log ids and outcomes, never job definitions, tokens or request headers.
 */
export const REDACTED_PATHS = [
  'environment', '*.environment', 'job.environment', '*.job.environment',
  'token', '*.token', 'tokens', '*.tokens',
  'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization', 'req.headers.authorization',
];

/** A logger writing to stdout in the configured format. */
export function createLogger(settings: Pick<DaemonSettings, 'log_format' | 'log_level'>): Logger {
  const options = {
    level: settings.log_level,
    base: { service: 'watchbell' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '******' },
  };
  if (settings.log_format === 'pretty') {
    // Required here, not imported with the logger: only `--log-format pretty` needs it (a CommonJS module, so sync).
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
    return pino(options, pretty({ sync: true, colorize: false, translateTime: 'SYS:standard' }));
  }
  // Buffered: a sync write per line would stall the event loop whenever the reader of stdout lags
  // (10,000 skipped runs a second is 10,000 lines); pino flushes what is buffered when the process exits.
  // maxWrite 4 KiB, not 16: sonic-boom appends each line to its last buffered string and then measures
  // that whole string, so a line cost up to 16 KiB of copying; 4 KiB made a line 30% cheaper (docs/benchmarks.md).
  return pino(options, pino.destination({ fd: 1, sync: false, maxWrite: 4096 }));
}

/** Subscribes the logger to core events, so logging is not sprinkled through the code. Environment values are never logged. */
export function logEvents(events: Events, log: Logger): void {
  // The per-run lines carry only scalars picked here (ids, statuses, times, an error line), so they
  // skip the redaction pass, whose wildcard paths tripled the cost of a line.
  const runLog = log.child({}, { redact: { paths: ['__nothing_to_redact__'] } });
  // Lines at debug are built only when debug is on: 10,000 jobs due in one second would build 10,000 objects for nothing.
  events.on('job:scheduled', ({ jobId, nextRun, bulk }) => {
    if (bulk && !runLog.isLevelEnabled('debug')) return;
    runLog[bulk ? 'debug' : 'info']({ event: 'job.scheduled', job_id: jobId, next_run: nextRun?.toISOString() ?? null }, nextRun ? 'job scheduled' : 'job has no further run');
  });
  events.on('job:due', ({ jobId, slot, firedAt, trigger }) => {
    if (!runLog.isLevelEnabled('debug')) return;
    runLog.debug({ event: 'job.due', job_id: jobId, slot: slot.toISOString(), trigger, late_ms: firedAt.getTime() - slot.getTime() }, 'job due');
  });
  events.on('execution:started', ({ execution: e }) => {
    runLog.info({ event: 'execution.started', job_id: e.job_id, execution_id: e.id, trigger: e.trigger, scheduled_at: e.scheduled_at }, 'execution started');
  });
  events.on('execution:finished', ({ execution: e }) => {
    const level = e.status === 'success' ? 'info' : 'warn';
    runLog[level]({
      event: 'execution.finished', job_id: e.job_id, execution_id: e.id, status: e.status, reason: e.reason,
      exit_code: e.exit_code, signal: e.signal, duration: e.duration, retry_count: e.retry_count, error: e.error,
      ...(e.steps ? { failed_step: e.steps.find((s) => s.status === 'failure' || s.status === 'cancelled')?.name ?? null } : {}),
    }, 'execution finished');
  });
  events.on('execution:waiting', ({ execution: e }) => {
    const step = e.steps?.find((s) => s.status === 'waiting')?.name ?? null;
    runLog.info({ event: 'execution.waiting', job_id: e.job_id, execution_id: e.id, step }, 'execution waiting at a wait step');
  });
  events.on('execution:skipped', ({ execution: e }) => {
    runLog.warn({ event: 'execution.skipped', job_id: e.job_id, execution_id: e.id, reason: e.reason, error: e.error }, 'execution skipped');
  });
  events.on('schedule:late', ({ jobId, slot, lateMs }) => {
    runLog.warn({ event: 'schedule.late', job_id: jobId, slot: slot.toISOString(), late_ms: Math.round(lateMs) }, 'job fired late');
  });
  events.on('clock:stepped', ({ stepMs, now }) => {
    const size = Math.round(stepMs);
    runLog.warn({ event: 'clock.stepped', step_ms: size, now: now.toISOString() }, `the wall clock was set ${size < 0 ? 'back' : 'forward'} by ${Math.abs(size) / 1000}s; every job's next run was recomputed`);
  });
  events.on('schedule:missed', ({ jobId, slot, reason, error }) => {
    const message = reason === 'store_unavailable'
      ? 'missed a run: the store could not record its start (a full disk, a database away), so it was not run; catch_up decides once the store is back'
      : `missed a run while the daemon was down; not run: ${reason === 'catch_up_none' ? 'catch_up is none' : 'older than starting_deadline'}`;
    runLog.warn({ event: 'schedule.missed', job_id: jobId, slot: slot.toISOString(), reason, ...(error ? { error } : {}) }, message);
  });
  events.on('config:reloaded', ({ file, trigger, jobs, added, changed, removed, restartNeeded }) => {
    log.info({ event: 'config.reloaded', file, trigger, jobs, added, changed, removed }, 'config reloaded');
    if (restartNeeded.length) {
      log.warn({ event: 'config.restart_needed', file, keys: restartNeeded }, `daemon settings changed (${restartNeeded.join(', ')}); they take effect at the next restart`);
    }
  });
  events.on('config:reload_failed', ({ file, trigger, errors }) => {
    log.error({ event: 'config.reload_failed', file, trigger, errors }, `config reload failed; keeping the running config: ${errors.join('; ')}`);
  });
  events.on('config:warning', ({ file, warning }) => {
    log.warn({ event: 'config.warning', file, warning }, warning);
  });
  events.on('labels:applied', ({ jobs, added, changed, removed, refused }) => {
    log.info({ event: 'labels.applied', jobs, added, changed, removed, refused }, 'jobs from container labels applied');
  });
  events.on('labels:invalid', ({ container, label, message }) => {
    log.error({ event: 'labels.invalid', container, label, error: message }, message);
  });
  events.on('labels:engine', ({ state, engine, error, retryInMs }) => {
    if (state === 'connected') log.info({ event: 'labels.engine_connected', engine }, `following container labels on ${engine}`);
    else log.warn({ event: 'labels.engine_lost', engine, error, retry_in_ms: retryInMs }, `lost the container engine at ${engine}: ${error}; retrying in ${Math.round((retryInMs ?? 0) / 1000)}s`);
  });
  // One line per delivery attempt: notify.sent, notify.retry, notify.failed, notify.dropped. `error` is already masked.
  events.on('notify:attempt', (a) => {
    const level = a.outcome === 'sent' ? 'info' : a.outcome === 'failed' ? 'error' : 'warn';
    const message = {
      sent: 'notification sent',
      retry: `notification attempt failed; retrying in ${Math.round((a.retryInMs ?? 0) / 1000)}s`,
      failed: 'notification failed; giving up',
      dropped: 'notification dropped',
    }[a.outcome];
    log[level]({
      event: `notify.${a.outcome}`, notifier: a.notifier, notifier_type: a.kind, notify_event: a.event, job_id: a.jobId, execution_id: a.executionId,
      attempt: a.attempt, duration_ms: a.durationMs, status_code: a.status, error_code: a.code, error: a.error, retry_in_ms: a.retryInMs,
    }, a.error ? `${message}: ${a.error}` : message);
  });
  events.on('error', ({ where, error }) => {
    log.error({ event: 'internal.error', where, err: error }, `error ${where}`);
  });
}

/** Lines shown of what start-up moved to lost+found; the rest are counted. */
const LOST_FOUND_SHOWN = 100;

/** One warning per file the store's start moved to DATA/lost+found/ instead of deleting it (store/load-journals.ts). */
export function logLostAndFound(lost: readonly LostFile[], log: Logger): void {
  for (const l of lost.slice(0, LOST_FOUND_SHOWN)) {
    const where = l.moved_to === null ? 'left it in place' : `moved it to ${l.moved_to}`;
    log.warn({ event: 'store.lost_found', path: l.path, moved_to: l.moved_to, reason: l.reason }, `${l.path}: ${l.reason}; ${where} instead of deleting it`);
  }
  if (lost.length > LOST_FOUND_SHOWN) {
    log.warn({ event: 'store.lost_found_more', count: lost.length - LOST_FOUND_SHOWN }, `and ${lost.length - LOST_FOUND_SHOWN} more files moved to lost+found`);
  }
}
