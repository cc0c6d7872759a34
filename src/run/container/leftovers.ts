/**
 * At start, before executions a dead daemon left unfinished are marked `interrupted` (store/recover.ts):
 * the containers it created for them (found by their `watchbell.execution` label) are stopped and removed,
 * and the processes it exec'd into running containers (found by their exec records) are stopped. A
 * container whose execution finished (the crash came between the record and the removal) is removed too.
 * Containers of executions this data dir does not know belong to another daemon on the same engine: left alone.
 */
import type { Logger } from 'pino';
import { CONTAINER_LABELS } from '../../jobs/container-spec.js';
import type { Execution } from '../../jobs/execution.js';
import { isValidExecutionId, isValidJobId } from '../../jobs/ids.js';
import { EXECUTION_ID_ENV } from '../pid-file.js';
import { stopExecLeftover } from './container-exec.js';
import { engineAddress, engineCall, engineClient, engineConfigured, engineStatus } from './docker-engine.js';
import { readExecRecord, removeExecRecord } from './exec-record.js';

export interface ContainerLeftoverOptions {
  /** True when this data dir knows the execution, finished or not. */
  known: (jobId: string, executionId: string) => boolean;
  /** Where an execution's exec record would be (exec-record.ts). */
  execRecordPath: (jobId: string, executionId: string) => string;
  /** Between SIGTERM and SIGKILL. */
  graceMs: number;
  log: Pick<Logger, 'info' | 'warn'>;
  env?: NodeJS.ProcessEnv;
}

/** A start must not wait long on an engine that hangs: it may be down, and most daemons need none. */
const LIST_TIMEOUT_MS = 10_000;

/**
 * Cleans up after the unfinished executions and resolves with a note per execution id for its `error`.
 * Never throws: an engine that cannot be reached is logged, and the executions are marked all the same.
 */
export async function stopContainerLeftovers(unfinished: readonly Execution[], options: ContainerLeftoverOptions): Promise<Map<string, string>> {
  const notes = new Map<string, string>();
  const records = unfinished
    .map((e) => ({ e, path: options.execRecordPath(e.job_id, e.id) }))
    .map((r) => ({ ...r, record: readExecRecord(r.path) }));
  const execs = records.filter((r) => r.record !== null);
  if (!engineConfigured(options.env) && execs.length === 0) return notes;

  const pending = new Set(unfinished.map((e) => e.id));
  await Promise.all([
    removeContainers(pending, options, notes),
    ...execs.map(async ({ e, path, record }) => {
      const outcome = await stopExecLeftover(record!, `${EXECUTION_ID_ENV}=${e.id}`, options.graceMs);
      const ids = { job_id: e.job_id, execution_id: e.id, container: record!.container, pid: record!.pid };
      if (outcome === 'stopped') {
        options.log.warn({ event: 'execution.exec_leftover_stopped', ...ids }, 'stopped a process a previous daemon left running in a container');
        notes.set(e.id, `; its process group ${record!.pid} in container ${record!.container} was stopped at restart`);
      } else if (typeof outcome === 'object') {
        options.log.warn({ event: 'execution.exec_leftover_unchecked', ...ids, error: outcome.error }, 'could not check a process a previous daemon exec\'d into a container');
        notes.set(e.id, `; process group ${record!.pid} in container ${record!.container} may still run: ${outcome.error}`);
      } else if (outcome === 'gone') {
        // The engine may end an exec whose attached client died (seen under load): say so, not nothing.
        options.log.info({ event: 'execution.exec_leftover_gone', ...ids }, 'a process a previous daemon exec\'d into a container had already ended');
        notes.set(e.id, `; its process group ${record!.pid} in container ${record!.container} had already ended at restart`);
      } else if (outcome === 'not_ours') {
        options.log.info({ event: 'execution.exec_leftover_pid_reused', ...ids }, 'the process group an exec record names now belongs to another program; left alone');
      } else if (outcome === 'unverified') {
        options.log.warn({ event: 'execution.exec_leftover_unverified', ...ids }, 'a process a previous daemon exec\'d into a container may still run; it could not be verified as ours (no grep in the container?), so it was left alone');
        notes.set(e.id, `; process group ${record!.pid} in container ${record!.container} may still run: it could not be verified as this execution's, so it was left alone`);
      }
      removeExecRecord(path);
    }),
  ]);
  return notes;
}

/** Stops and removes the labelled containers of `pending` executions, and removes those of finished ones. */
async function removeContainers(pending: ReadonlySet<string>, options: ContainerLeftoverOptions, notes: Map<string, string>): Promise<void> {
  let found;
  try {
    const docker = await engineClient(options.env);
    found = await engineCall(
      'listing containers left by a previous daemon',
      () => docker.listContainers({ all: true, filters: { label: [CONTAINER_LABELS.execution] } }),
      { timeoutMs: LIST_TIMEOUT_MS },
    );
  } catch (err) {
    options.log.warn(
      { event: 'containers.leftovers_unchecked', engine: engineAddress(options.env), error: (err as Error).message },
      'could not look for containers a previous daemon left; they are cleaned up at the next start that reaches the engine',
    );
    return;
  }
  const docker = await engineClient(options.env);
  await Promise.all(
    found.map(async (info) => {
      const jobId = info.Labels?.[CONTAINER_LABELS.job] ?? '';
      const executionId = info.Labels?.[CONTAINER_LABELS.execution] ?? '';
      // Labels are anyone's to set: only well-formed ids are looked up (they become paths in the store).
      if (!isValidJobId(jobId) || !isValidExecutionId(executionId) || !options.known(jobId, executionId)) return; // another daemon's
      const running = pending.has(executionId);
      const container = docker.getContainer(info.Id);
      const short = info.Id.slice(0, 12);
      const ids = { job_id: jobId, execution_id: executionId, container: short };
      try {
        if (running && info.State === 'running') {
          await engineCall(`stopping container ${short}`, () => container.stop({ t: Math.ceil(options.graceMs / 1000) }), {
            timeoutMs: options.graceMs + LIST_TIMEOUT_MS,
          }).catch((err: unknown) => {
            if (engineStatus(err) !== 304 && engineStatus(err) !== 404) throw err;
          });
        }
        await engineCall(`removing container ${short}`, () => container.remove({ force: true, v: true }));
      } catch (err) {
        if (engineStatus(err) === 404) return;
        options.log.warn({ event: 'container.leftover_failed', ...ids, error: (err as Error).message }, 'could not remove a container a previous daemon left');
        if (running) notes.set(executionId, `; its container ${short} could not be removed: ${(err as Error).message}`);
        return;
      }
      if (running) {
        options.log.warn({ event: 'container.leftover_removed', ...ids }, 'stopped and removed a container a previous daemon left running');
        notes.set(executionId, `; its container ${short} was stopped and removed at restart`);
      } else {
        options.log.info({ event: 'container.leftover_removed', ...ids }, 'removed a container a previous daemon left after its execution ended');
      }
    }),
  );
}
