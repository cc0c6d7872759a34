/** The Execution fields of steps, restarts, chains and parameters; pure, as execution-record.ts. */
import type { Execution, StepRecord } from '../jobs/execution.js';
import type { Job } from '../jobs/job.js';
import type { TriggerExtra } from './runner.js';
import { pendingStep, type StepsOutcome } from './step-run.js';

/** A new execution with what its trigger adds: its step records, restarted_from, triggered_by, parameters. */
export function withSteps(execution: Execution, job: Job, extra: TriggerExtra): Execution {
  const out: Execution = { ...execution };
  if (job.steps) out.steps = extra.steps ? extra.steps.map((r) => ({ ...r })) : job.steps.map((s) => pendingStep(s, job));
  if (extra.restartedFrom !== undefined) out.restarted_from = extra.restartedFrom;
  if (extra.triggeredBy !== undefined) out.triggered_by = { ...extra.triggeredBy };
  if (extra.parameters !== undefined) out.parameters = Object.keys(extra.parameters).sort();
  if (extra.node !== undefined) out.node = extra.node;
  return out;
}

/** The final record of a multi-step execution: status, reason, error and exit from the first step that failed. */
export function finishedStepsExecution(execution: Execution, outcome: StepsOutcome, output: string, now: Date): Execution {
  const started = execution.started_at === null ? now.getTime() : Date.parse(execution.started_at);
  const ran = [...outcome.records].reverse().find((r) => r.attempts.length > 0 && !r.reused);
  const from = outcome.failed ?? ran;
  const base: Execution = {
    ...execution,
    steps: outcome.records.map((r) => ({ ...r })),
    attempts: outcome.attempts.map((a) => ({ ...a })),
    retry_count: outcome.records.reduce((n, r) => n + (r.reused ? 0 : r.retry_count), 0),
    finished_at: now.toISOString(),
    duration: (now.getTime() - started) / 1000,
    output,
    exit_code: from?.exit_code ?? null,
    signal: from?.signal ?? null,
  };
  if (outcome.status === 'cancelled') return { ...base, status: 'cancelled', reason: 'cancelled', error: 'cancelled' };
  if (outcome.status === 'failure' && outcome.failed) {
    const f = outcome.failed;
    return { ...base, status: 'failure', reason: f.reason, error: `step ${f.name}: ${f.error ?? f.status}` };
  }
  return { ...base, status: 'success', reason: from?.reason ?? 'exit', error: null };
}

/** An execution held at a wait step: `waiting`, its records as they are. */
export function waitingExecution(execution: Execution, records: readonly StepRecord[]): Execution {
  return { ...execution, status: 'waiting', steps: records.map((r) => ({ ...r })) };
}
