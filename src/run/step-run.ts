/**
 * The steps of one execution (DESIGN.md §9): one after another, each with its own attempts, retries and timeout,
 * `if:` deciding which run after a failure, outputs passed on as environment variables, and `wait` gates handed
 * to the runner (which releases the execution's slot meanwhile). Records are replaced, never mutated, and stored
 * after each step, so a crash or a restart sees which steps are done.
 */
import { chown, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Attempt, EndReason, StepRecord } from '../jobs/execution.js';
import type { Job } from '../jobs/job.js';
import { lookupUser } from '../jobs/system-user.js';
import { envName, resolveStep, stepDigest, type ResolvedStep, type StepSpec } from '../jobs/step.js';
import type { AttemptResult } from './command.js';
import type { LogSink } from './log-sink.js';
import { runWithRetries, succeeded } from './retry.js';
import { MAX_OUTPUTS_BYTES, parseOutputs, type OutputsResult } from './step-outputs.js';
import { stepHeader } from '../store/log-steps.js';
import { formatSeconds } from './timers.js';

/** The variable holding the path of a step's outputs file. */
export const OUTPUT_ENV = 'WATCHBELL_OUTPUT';

/** How a wait gate ended. */
export type GateEnd = { kind: 'advanced'; outputs: Record<string, string> } | { kind: 'timeout' } | { kind: 'cancelled' } | { kind: 'detached' };

/** What one attempt of a step runs; the runner turns it into a host process or a container. */
export interface StepAttempt {
  step: ResolvedStep;
  environment: Record<string, string>;
}

export interface StepsContext {
  job: Job;
  /** Where the step's outputs file goes (removed again after each attempt). */
  outputsPath: string;
  log: LogSink;
  signal: AbortSignal;
  /** Over every step's own environment: run-now parameters and upstream outputs. */
  overrides: Record<string, string>;
  /** Over everything, for watchbell's own use (the execution id). */
  reserved: Record<string, string>;
  /** The records so far: pending ones for a new execution, some done for a restart or a resumed gate. */
  records: StepRecord[];
  /** Runs one attempt of a command step. */
  attempt: (a: StepAttempt) => Promise<AttemptResult>;
  /** Holds the execution at a wait step until advanced, cancelled, timed out (after `timeoutMs`) or detached. */
  gate: (records: StepRecord[], index: number, timeoutMs: number) => Promise<GateEnd>;
  /** Stores the records as they are; a failure to is reported by the caller, not thrown. */
  progress: (records: StepRecord[]) => Promise<void>;
  /** Told each time a step ends (for metrics). */
  stepEnded?: (record: StepRecord) => void;
}

export interface StepsOutcome {
  records: StepRecord[];
  /** `detached`: the daemon stops while a gate waits; the execution stays `waiting` in the store. */
  status: 'success' | 'failure' | 'cancelled' | 'detached';
  /** The first step that failed (without continue_on_error): the execution's reason, error and exit come from it. */
  failed: StepRecord | null;
  /** The attempts made in this run of the steps, all steps together, in order. */
  attempts: Attempt[];
}

/** A step not started yet. */
export function pendingStep(step: StepSpec, job: Job): StepRecord {
  return {
    name: step.name, status: 'pending', started_at: null, finished_at: null, duration: null, exit_code: null, signal: null,
    reason: null, error: null, retry_count: 0, attempts: [], outputs: {}, reused: false, digest: stepDigest(resolveStep(step, job)),
  };
}

/**
 * The records a restart starts from: each step that succeeded before (with an unchanged definition, and
 * every step before it reused too) is taken over with its outputs; from the first that is not, all run again.
 */
export function restartRecords(job: Job, previous: readonly StepRecord[]): StepRecord[] {
  let reusing = true;
  return (job.steps ?? []).map((step, i) => {
    const fresh = pendingStep(step, job);
    const old = previous[i];
    reusing &&= old !== undefined && old.name === step.name && old.status === 'success' && old.digest === fresh.digest;
    return reusing ? { ...old!, attempts: old!.attempts.map((a) => ({ ...a })), outputs: { ...old!.outputs }, reused: true } : fresh;
  });
}

const DONE = new Set(['success', 'failure', 'skipped', 'cancelled']);

/** Runs the steps not done yet and resolves with every record; never rejects for a failing step. */
export async function runSteps(ctx: StepsContext): Promise<StepsOutcome> {
  const { job, log, signal } = ctx;
  const steps = job.steps ?? [];
  // Records that do not match the steps (a job changed while its execution waited at a gate) start over as pending.
  const records = steps.map((s, i) => (ctx.records[i]?.name === s.name ? { ...ctx.records[i]! } : pendingStep(s, job)));
  const attempts: Attempt[] = [];
  let failed: StepRecord | null = null;
  const set = async (i: number, r: StepRecord, store = true) => {
    records[i] = r;
    if (store) await ctx.progress(records.map((x) => ({ ...x })));
  };
  for (let i = 0; i < steps.length; i++) {
    const rec = records[i]!;
    const step = resolveStep(steps[i]!, job);
    if (DONE.has(rec.status)) {
      if (rec.status === 'failure' && !step.continue_on_error) failed ??= rec;
      continue;
    }
    if (signal.aborted) {
      await set(i, { ...rec, status: 'cancelled', reason: 'cancelled', error: 'cancelled before it started' }, false);
      continue;
    }
    const runs = step.if === 'always' || (step.if === 'success' ? failed === null : failed !== null);
    if (!runs) {
      const why = failed ? `skipped: step ${failed.name} failed` : 'skipped: no step failed (if: failure)';
      log.note(stepHeader(step.name, why));
      await set(i, { ...rec, status: 'skipped', error: why }, false);
      continue;
    }
    const startedAt = rec.started_at ?? new Date().toISOString();
    let done: StepRecord;
    if (step.wait) {
      done = await waitStep(ctx, records, i, { ...rec, status: 'waiting', started_at: startedAt }, step.wait.timeout);
      if (done.status === 'waiting') return { records, status: 'detached', failed, attempts };
    } else {
      await set(i, { ...rec, status: 'in_progress', started_at: startedAt });
      done = await commandStep(ctx, records, step, rec, startedAt);
      attempts.push(...done.attempts);
    }
    await set(i, done);
    ctx.stepEnded?.(done);
    if (done.status !== 'success' && !step.continue_on_error) failed ??= done;
  }
  await ctx.progress(records.map((x) => ({ ...x })));
  const cancelled = records.some((r) => r.status === 'cancelled');
  return { records, status: cancelled ? 'cancelled' : failed ? 'failure' : 'success', failed, attempts };
}

/** Runs a command step's attempts, with its outputs file, and returns its finished record. */
async function commandStep(ctx: StepsContext, records: readonly StepRecord[], step: ResolvedStep, rec: StepRecord, startedAt: string): Promise<StepRecord> {
  const total = 1 + step.retries;
  let outputs: Record<string, string> = {};
  // Attempts that exited 0 but left a bad outputs file: failures of the step (not retried: the same script writes the same file).
  const badOutputs = new WeakSet<AttemptResult>();
  // Outputs of the steps before it; later steps' are absent (a restart's pending ones have none).
  const upstream: Record<string, string> = {};
  for (const r of records) if (r.status === 'success') for (const [k, v] of Object.entries(r.outputs)) upstream[envName('WATCHBELL_STEP', r.name, k)] = v;
  const outcome = await runWithRetries({
    retries: step.retries,
    retryDelayMs: step.retry_delay * 1000,
    log: ctx.log,
    signal: ctx.signal,
    attempt: async (n) => {
      ctx.log.note(stepHeader(step.name, `attempt ${n} of ${total}`));
      // Container steps get no outputs file: the path is the host's, which the container cannot see.
      const file = step.container === null ? await outputsFile(ctx.outputsPath, ctx.job.user ?? null) : null;
      const environment = {
        ...step.environment, ...ctx.overrides, ...upstream,
        ...(file ? { [OUTPUT_ENV]: file.path } : {}), ...ctx.reserved,
      };
      const result = await ctx.attempt({ step, environment });
      if (!file) return result;
      const read = await readOutputs(file.path).finally(file.remove);
      if (!succeeded(result)) return result;
      if (!read.ok) {
        ctx.log.note(stepHeader(step.name, read.error));
        const bad = { ...result, error: read.error };
        badOutputs.add(bad);
        return bad;
      }
      outputs = read.outputs;
      return result;
    },
  });
  const last = outcome.attempts.at(-1)!;
  const finishedAt = new Date().toISOString();
  const base = {
    ...rec, started_at: startedAt, finished_at: finishedAt, duration: (Date.parse(finishedAt) - Date.parse(startedAt)) / 1000,
    attempts: outcome.attempts.map((a) => ({ ...a })),
    retry_count: Math.max(0, outcome.attempts.length - 1), exit_code: last.exit_code, signal: last.signal,
  };
  if (outcome.cancelled) return { ...base, status: 'cancelled', reason: 'cancelled', error: 'cancelled' };
  const ok = succeeded(last) && !badOutputs.has(last);
  return { ...base, status: ok ? 'success' : 'failure', reason: last.reason, error: last.error, outputs: ok ? outputs : {} };
}

/** Holds the execution at a wait step; the record stays `waiting` when the daemon stops meanwhile. */
async function waitStep(ctx: StepsContext, records: StepRecord[], i: number, rec: StepRecord, timeoutSeconds: number): Promise<StepRecord> {
  records[i] = rec;
  const left = Date.parse(rec.started_at!) + timeoutSeconds * 1000 - Date.now();
  // Whole seconds, rounded up: the ms spent since the step started would show as 3599.999s.
  ctx.log.note(stepHeader(rec.name, `waiting for advance (up to ${formatSeconds(Math.ceil(Math.max(0, left) / 1000) * 1000)})`));
  const end = await ctx.gate(records.map((x) => ({ ...x })), i, Math.max(0, left));
  if (end.kind === 'detached') return rec;
  const finishedAt = new Date().toISOString();
  const base = { ...rec, finished_at: finishedAt, duration: (Date.parse(finishedAt) - Date.parse(rec.started_at!)) / 1000 };
  const ending: Record<Exclude<GateEnd['kind'], 'detached'>, [StepRecord['status'], EndReason | null, string | null]> = {
    advanced: ['success', null, null],
    timeout: ['failure', 'timeout', `not advanced within ${formatSeconds(timeoutSeconds * 1000)} (wait.timeout)`],
    cancelled: ['cancelled', 'cancelled', 'cancelled while waiting'],
  };
  const [status, reason, error] = ending[end.kind];
  ctx.log.note(stepHeader(rec.name, end.kind === 'advanced' ? 'advanced' : error!));
  return { ...base, status, reason, error, outputs: end.kind === 'advanced' ? { ...end.outputs } : {} };
}

/**
 * An empty outputs file for one attempt: beside the log, or, for a job run as another user (who cannot reach the
 * data dir), in a directory of its own under the temp dir, owned by that user.
 */
async function outputsFile(besideLog: string, user: string | number | null): Promise<{ path: string; remove: () => Promise<void> }> {
  const runAs = user === null ? null : lookupUser(user);
  if (runAs === null) {
    await writeFile(besideLog, '');
    return { path: besideLog, remove: () => rm(besideLog, { force: true }).catch(() => undefined) };
  }
  const dir = await mkdtemp(join(tmpdir(), 'watchbell-outputs-'));
  const path = join(dir, 'outputs');
  await writeFile(path, '');
  await chown(dir, runAs.uid, runAs.gid);
  await chown(path, runAs.uid, runAs.gid);
  return { path, remove: () => rm(dir, { recursive: true, force: true }).catch(() => undefined) };
}

/** The outputs file a step left, read no further than the limit; a missing one is no outputs. */
async function readOutputs(path: string): Promise<OutputsResult> {
  try {
    const fh = await open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      if (size > MAX_OUTPUTS_BYTES) return { ok: false, error: `outputs file is ${size} bytes, more than the ${MAX_OUTPUTS_BYTES} (64 KiB) a step may write` };
      const bytes = Buffer.alloc(size);
      const { bytesRead } = await fh.read(bytes, 0, size, 0);
      return parseOutputs(bytes.subarray(0, bytesRead));
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, outputs: {} };
    return { ok: false, error: `outputs file could not be read: ${(err as Error).message}` };
  }
}
