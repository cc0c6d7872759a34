/** Logs: pino JSON lines on stdout (one event a line), or pretty lines for people; fed by core events. */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { DaemonSettings } from './config/settings.js';
import type { Events } from './jobs/events.js';

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
    return pino(options, pretty({ sync: true, colorize: false, translateTime: 'SYS:standard' }));
  }
  return pino(options, pino.destination({ fd: 1, sync: true }));
}

/** Subscribes the logger to core events, so logging is not sprinkled through the code. Environment values are never logged. */
export function logEvents(events: Events, log: Logger): void {
  events.on('job:scheduled', ({ jobId, nextRun }) => {
    log.info({ event: 'job.scheduled', job_id: jobId, next_run: nextRun?.toISOString() ?? null }, nextRun ? 'job scheduled' : 'job has no further run');
  });
  events.on('job:due', ({ jobId, slot, firedAt, trigger }) => {
    log.debug({ event: 'job.due', job_id: jobId, slot: slot.toISOString(), trigger, late_ms: firedAt.getTime() - slot.getTime() }, 'job due');
  });
  events.on('execution:started', ({ execution: e }) => {
    log.info({ event: 'execution.started', job_id: e.job_id, execution_id: e.id, trigger: e.trigger, scheduled_at: e.scheduled_at }, 'execution started');
  });
  events.on('execution:finished', ({ execution: e }) => {
    const level = e.status === 'success' ? 'info' : 'warn';
    log[level]({
      event: 'execution.finished', job_id: e.job_id, execution_id: e.id, status: e.status, reason: e.reason,
      exit_code: e.exit_code, signal: e.signal, duration: e.duration, retry_count: e.retry_count, error: e.error,
    }, 'execution finished');
  });
  events.on('execution:skipped', ({ execution: e }) => {
    log.warn({ event: 'execution.skipped', job_id: e.job_id, execution_id: e.id, reason: e.reason, error: e.error }, 'execution skipped');
  });
  events.on('schedule:late', ({ jobId, slot, lateMs }) => {
    log.warn({ event: 'schedule.late', job_id: jobId, slot: slot.toISOString(), late_ms: Math.round(lateMs) }, 'job fired late');
  });
  events.on('schedule:missed', ({ jobId, slot, reason }) => {
    const why = reason === 'catch_up_none' ? 'catch_up is none' : 'older than starting_deadline';
    log.warn({ event: 'schedule.missed', job_id: jobId, slot: slot.toISOString(), reason }, `missed a run while the daemon was down; not run: ${why}`);
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
  events.on('error', ({ where, error }) => {
    log.error({ event: 'internal.error', where, err: error }, `error ${where}`);
  });
}
