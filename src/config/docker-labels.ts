/**
 * Jobs declared by container labels (Chadburn-style, `daemon.docker_labels: true`). A container labelled
 * `watchbell.enabled=true` declares job NAME with labels `watchbell.job.NAME.FIELD=VALUE`, FIELD being any job
 * field of the YAML (`schedule`, `command`, `timeout`, `retries`, `container.image`, `environment.KEY`, ...).
 * They are checked by the same validator as config and API jobs. Such a job runs its command in that very
 * container (`container: {exec: <its name>}`) unless its labels name an image (or another container).
 *
 * Its id is `<container name>.<NAME>`, lowercased with other characters than `a-z 0-9 _ . -` turned into `-`,
 * so `docker ps` and the API name the same thing; it must match the usual job id pattern (at most 63 characters).
 */
import { WatchbellError, type FieldError } from '../jobs/errors.js';
import { CONTAINER_LABELS } from '../jobs/container-spec.js';
import { isValidJobId } from '../jobs/ids.js';
import type { JobSpec } from '../jobs/job.js';
import { label as pathLabel } from '../jobs/schema-validator.js';
import { validateJob } from '../jobs/validate-job.js';

/** A running container as the label source sees it. */
export interface LabelledContainer {
  id: string;
  /** Without the engine's leading `/`. */
  name: string;
  labels: Readonly<Record<string, string>>;
}

/** A job declared by labels, ready for JobService.applyLabelJobs. */
export interface LabelJob {
  id: string;
  spec: JobSpec;
  /** `labels of container web`, for messages. */
  where: string;
  /** The container that declares it. */
  container: string;
}

/** A label that could not become (part of) a job; the job it belongs to is left out. */
export interface LabelProblem {
  container: string;
  /** The label's key, or `watchbell.job.NAME` for a problem of the whole job. */
  label: string;
  /** `container web: label watchbell.job.backup.retries: "lots" is invalid; expected an integer from 0 to 100`. */
  message: string;
}

/** Labels of a declared job start with this, then `NAME.FIELD`. */
export const JOB_LABEL_PREFIX = `${CONTAINER_LABELS.job}.`;

/** Fields that are integers in YAML; labels are strings, so digits become numbers. */
const INTEGER_FIELDS = new Set(['retries', 'history_limit', 'max_output']);
/** Lists that may be given comma-separated as well as as a JSON array. */
const LIST_FIELDS = new Set(['tags', 'container.volumes']);
/** Fields the id and the daemon own: a label may not set them. */
const REFUSED_FIELDS = new Map([
  ['id', 'the id of a label job is <container name>.<job name>'],
  ['status', 'pause a label job through the API (POST /api/v1/jobs/{id}/pause)'],
]);

/** Every job the enabled containers declare, and every problem found on the way. */
export function jobsFromLabels(containers: readonly LabelledContainer[], options: { timezone: string }): { jobs: LabelJob[]; problems: LabelProblem[] } {
  const jobs: LabelJob[] = [];
  const problems: LabelProblem[] = [];
  const owners = new Map<string, string>();
  // Sorted, so which of two clashing containers wins does not depend on the engine's listing order.
  for (const c of [...containers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (c.labels[CONTAINER_LABELS.enabled] !== 'true') continue;
    const found = jobsOfContainer(c, options.timezone);
    problems.push(...found.problems);
    for (const job of found.jobs) {
      const owner = owners.get(job.id);
      if (owner !== undefined) {
        problems.push(problem(c.name, `${JOB_LABEL_PREFIX}${job.id.slice(job.id.lastIndexOf('.') + 1)}`, `job id ${job.id} is already declared by container ${owner}; rename one of the containers`));
        continue;
      }
      owners.set(job.id, c.name);
      jobs.push(job);
    }
  }
  return { jobs, problems };
}

/** The jobs of one container, from its `watchbell.job.NAME.FIELD` labels. */
function jobsOfContainer(c: LabelledContainer, timezone: string): { jobs: LabelJob[]; problems: LabelProblem[] } {
  const problems: LabelProblem[] = [];
  const raws = new Map<string, Record<string, unknown>>();
  for (const [key, value] of Object.entries(c.labels)) {
    if (!key.startsWith(JOB_LABEL_PREFIX)) continue;
    const rest = key.slice(JOB_LABEL_PREFIX.length);
    const dot = rest.indexOf('.');
    if (dot <= 0 || dot === rest.length - 1) {
      problems.push(problem(c.name, key, `expected ${JOB_LABEL_PREFIX}<job name>.<field>, e.g. ${JOB_LABEL_PREFIX}backup.schedule`));
      continue;
    }
    const name = rest.slice(0, dot);
    const field = rest.slice(dot + 1);
    const refusal = REFUSED_FIELDS.get(field);
    if (refusal !== undefined) {
      problems.push(problem(c.name, key, `cannot be set by a label: ${refusal}`));
      raws.set(name, raws.get(name) ?? {});
      continue;
    }
    let raw = raws.get(name);
    if (!raw) raws.set(name, (raw = {}));
    setPath(raw, field.split('.'), labelValue(field, value));
  }

  const jobs: LabelJob[] = [];
  for (const [name, raw] of raws) {
    const jobLabel = `${JOB_LABEL_PREFIX}${name}`;
    if (problems.some((p) => p.label.startsWith(`${jobLabel}.`))) continue; // already reported; a half job is not run
    const id = `${idPart(c.name)}.${name.toLowerCase()}`;
    if (!isValidJobId(id)) {
      problems.push(problem(c.name, jobLabel, `job id ${JSON.stringify(id)} (<container name>.<job name>) is invalid: expected at most 63 lowercase letters, digits, "_", "." or "-"; shorten the container name or the job name`));
      continue;
    }
    const container = (raw.container ?? {}) as Record<string, unknown>;
    // Runs in this container unless the labels say otherwise.
    if (typeof container === 'object' && container !== null && container.image === undefined && container.exec === undefined) {
      raw.container = { ...container, exec: c.name };
    }
    try {
      const v = validateJob(raw, { timezone });
      jobs.push({ id, spec: { ...v.spec, name: v.spec.name || id }, where: `labels of container ${c.name}`, container: c.name });
    } catch (err) {
      if (!(err instanceof WatchbellError) || !err.details) throw err;
      problems.push(...err.details.map((d) => fieldProblem(c.name, jobLabel, d)));
    }
  }
  return { jobs, problems };
}

/** A label's string as the field's YAML value: digits for integer fields, JSON for arrays and maps, lists split at commas. */
function labelValue(field: string, value: string): unknown {
  const trimmed = value.trim();
  if (INTEGER_FIELDS.has(field) && /^-?\d+$/.test(trimmed)) return Number(trimmed);
  if (/^[[{]/.test(trimmed)) {
    try {
      return JSON.parse(trimmed) as unknown;
    } catch {
      return value; // the validator says what is wrong with it
    }
  }
  if (LIST_FIELDS.has(field)) return trimmed.split(',').map((s) => s.trim()).filter(Boolean);
  return value;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = target;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path.at(-1)!] = value;
}

/** A container name as the first part of a job id. */
function idPart(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/\.{2,}/g, '.').replace(/^[^a-z0-9]+/, '');
}

/** A validator error of a job as a problem of the label that caused it (`/retries` -> `watchbell.job.NAME.retries`). */
function fieldProblem(container: string, jobLabel: string, d: FieldError): LabelProblem {
  const segments = d.path.split('/').slice(1);
  // An array element (`/command/0`) belongs to the label of the whole array.
  const cut = segments.findIndex((s) => /^\d+$/.test(s));
  const field = (cut < 0 ? segments : segments.slice(0, cut)).join('.');
  const key = field ? `${jobLabel}.${field}` : jobLabel;
  const prefix = `${pathLabel(d.path)}: `;
  return problem(container, key, d.message.startsWith(prefix) ? d.message.slice(prefix.length) : d.message);
}

function problem(container: string, label: string, text: string): LabelProblem {
  return { container, label, message: `container ${container}: label ${label}: ${text}` };
}
