/** Builds Execution records at each step of a run; pure, so the runner only decides when. */
import { logRoute, type Execution, type Trigger } from '../jobs/execution.js';
import { newExecutionId } from '../jobs/ids.js';
import type { Job } from '../jobs/job.js';
import type { AttemptResult } from './command.js';
import { succeeded, type RetryOutcome } from './retry.js';

/** A new execution, `in_progress` from `now`. */
export function startedExecution(job: Job, trigger: Trigger, scheduledAt: Date | null, now: Date): Execution {
  const id = newExecutionId(now.getTime());
  return {
    id,
    job_id: job.id,
    status: 'in_progress',
    trigger,
    scheduled_at: scheduledAt?.toISOString() ?? null,
    started_at: now.toISOString(),
    finished_at: null,
    duration: null,
    exit_code: null,
    signal: null,
    reason: null,
    output: '',
    error: null,
    retry_count: 0,
    attempts: [],
    log_route: logRoute(job.id, id),
  };
}

/** A new execution waiting for a free slot under the daemon's `max_concurrency`; not started yet. */
export function queuedExecution(job: Job, trigger: Trigger, scheduledAt: Date | null, now: Date): Execution {
  return { ...startedExecution(job, trigger, scheduledAt, now), status: 'queued', started_at: null };
}

/** A queued execution that got its slot and starts `now`. */
export function dequeuedExecution(execution: Execution, now: Date): Execution {
  return { ...execution, status: 'in_progress', started_at: now.toISOString() };
}

/** A queued execution cancelled before it ever started: no attempts, no duration. */
export function cancelledQueuedExecution(execution: Execution, why: string, now: Date): Execution {
  return {
    ...execution,
    status: 'cancelled',
    finished_at: now.toISOString(),
    duration: null,
    reason: 'cancelled',
    error: why,
  };
}

/** A run that never started because `runningId` was still in progress and the job forbids overlap. */
export function skippedExecution(job: Job, trigger: Trigger, scheduledAt: Date | null, runningId: string, now: Date): Execution {
  return {
    ...startedExecution(job, trigger, scheduledAt, now),
    status: 'skipped',
    started_at: null,
    finished_at: now.toISOString(),
    reason: 'overlap',
    error: `skipped: execution ${runningId} still running`,
  };
}

/** The execution with the attempts made so far, while it goes on. */
export function withAttempts(execution: Execution, attempts: readonly AttemptResult[]): Execution {
  return { ...execution, attempts: attempts.map((a) => ({ ...a })), retry_count: Math.max(0, attempts.length - 1) };
}

/** The final record: status and outcome from the last attempt, `output` the log's tail. */
export function finishedExecution(execution: Execution, outcome: RetryOutcome, output: string, now: Date): Execution {
  const last = outcome.attempts.at(-1);
  const base = { ...withAttempts(execution, outcome.attempts), ...ended(execution, now), output };
  const exit = { exit_code: last?.exit_code ?? null, signal: last?.signal ?? null };
  if (outcome.cancelled || last === undefined) {
    return { ...base, ...exit, status: 'cancelled', reason: 'cancelled', error: 'cancelled' };
  }
  return { ...base, ...exit, status: succeeded(last) ? 'success' : 'failure', reason: last.reason, error: last.error };
}

/** The record of a run that our own code broke (a bug or a broken disk), so it does not stay `in_progress`. */
export function brokenExecution(execution: Execution, err: unknown, now: Date): Execution {
  const message = err instanceof Error ? err.message : String(err);
  // Out of descriptors, memory or processes while setting the run up (its pid file, its log): the job could not
  // be started properly, which is what spawn_error says; nothing is wrong with watchbell itself.
  if (RESOURCE_ERRORS.has((err as NodeJS.ErrnoException | null)?.code ?? '')) {
    return { ...execution, ...ended(execution, now), status: 'failure', reason: 'spawn_error', error: `cannot start: ${message.split('\n')[0]}` };
  }
  return {
    ...execution,
    ...ended(execution, now),
    status: 'failure',
    error: `internal error: ${message.split('\n')[0]}`,
  };
}

/** Errors of a system out of some resource for the moment: open files, memory, processes. */
const RESOURCE_ERRORS = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN']);

function ended(execution: Execution, now: Date): Pick<Execution, 'finished_at' | 'duration'> {
  const started = execution.started_at === null ? now.getTime() : Date.parse(execution.started_at);
  return { finished_at: now.toISOString(), duration: (now.getTime() - started) / 1000 };
}

/** A copy the caller may keep: the runner never changes an object once it has handed it out. */
export function snapshot(execution: Execution): Execution {
  return { ...execution, attempts: execution.attempts.map((a) => ({ ...a })) };
}
