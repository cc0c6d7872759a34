/**
 * Chains (on_success / on_failure) between the jobs JobService holds: the checks a create, an update or a
 * config reload must pass (no unknown target, no cycle, no target removed from under a chain), and what a
 * chained execution gets from the one that triggered it.
 */
import { describeCycle, findCycles, unknownTargets, type ChainNode } from '../jobs/chains.js';
import { WatchbellError, type FieldError } from '../jobs/errors.js';
import type { Execution } from '../jobs/execution.js';
import type { Job, JobSpec } from '../jobs/job.js';
import { envName } from '../jobs/step.js';
import type { TriggerExtra } from '../run/runner.js';

const LOOP = 'a job must not trigger itself through on_success / on_failure';

/**
 * Chains across the config and the other jobs: a config job may chain to any job, and API jobs to config jobs,
 * so only here are unknown targets, cycles through both, and API jobs chaining to a config job the reload
 * removes (JOB_CHAINED, as a delete) seen. `place` is the job's `FILE:LINE:COL`.
 */
export function checkConfigChains(jobs: ReadonlyMap<string, Job>, configJobs: ReadonlyArray<{ id: string; spec: JobSpec; place: string }>): void {
  const graph = new Map<string, ChainNode>();
  for (const job of jobs.values()) if (job.source !== 'config') graph.set(job.id, job);
  for (const c of configJobs) graph.set(c.id, c.spec);
  const configIds = new Set(configJobs.map((c) => c.id));
  const places = new Map(configJobs.map((c) => [c.id, c.place]));
  const unknown = unknownTargets(graph);
  const orphaned = unknown.filter((e) => !configIds.has(e.from) && jobs.get(e.to)?.source === 'config');
  if (orphaned.length) {
    const details = orphaned.map((e) => ({ path: `/jobs/${e.to}`, message: `job ${e.to} is removed from the config, but job ${e.from} chains to it (${e.field}); remove it from job ${e.from}'s ${e.field} first` }));
    throw new WatchbellError('JOB_CHAINED', details.map((d) => d.message).join('\n'), { details });
  }
  const details: FieldError[] = unknown.filter((e) => configIds.has(e.from)).map((e) => ({
    path: `/jobs/${e.from}/${e.field}`,
    message: `${places.get(e.from)}: jobs.${e.from}.${e.field}: no job ${JSON.stringify(e.to)}; expected the id of a job in the config or created through the API`,
  }));
  for (const cycle of findCycles(graph)) {
    const first = cycle.find((e) => configIds.has(e.from)) ?? cycle[0]!;
    details.push({ path: `/jobs/${first.from}/${first.field}`, message: `${places.get(first.from) ?? first.from}: jobs.${first.from}.${first.field}: chain cycle ${describeCycle(cycle)}; ${LOOP}` });
  }
  if (details.length) throw new WatchbellError('CONFIG_INVALID', details.map((d) => d.message).join('\n'), { details });
}

/** An API job's chains, as it would be saved among `jobs`: no unknown target, no cycle. Throws VALIDATION_FAILED. */
export function checkApiJobChains(jobs: ReadonlyMap<string, Job>, id: string, spec: JobSpec): void {
  if (!spec.on_success && !spec.on_failure) return;
  const graph = new Map<string, ChainNode>(jobs);
  graph.set(id, spec);
  const details: FieldError[] = unknownTargets(graph).filter((e) => e.from === id).map((e) => ({
    path: `/${e.field}`, message: `${e.field}: no job ${JSON.stringify(e.to)}; expected the id of an existing job`,
  }));
  for (const cycle of findCycles(graph)) {
    const mine = cycle.find((e) => e.from === id) ?? cycle[0]!;
    details.push({ path: `/${mine.field}`, message: `${mine.field}: chain cycle ${describeCycle(cycle)}; ${LOOP}` });
  }
  if (details.length) throw new WatchbellError('VALIDATION_FAILED', details[0]!.message + (details.length > 1 ? ` (and ${details.length - 1} more)` : ''), { details });
}

/** What a chained execution gets: `triggered_by`, and every step's outputs (a later step's winning) as WATCHBELL_UPSTREAM_<KEY>. */
export function chainExtra(e: Execution): TriggerExtra {
  const environment: Record<string, string> = {};
  for (const s of e.steps ?? []) for (const [k, v] of Object.entries(s.outputs)) environment[envName('WATCHBELL_UPSTREAM', k)] = v;
  return { triggeredBy: { job_id: e.job_id, execution_id: e.id }, environment };
}
