/**
 * A job's `container:` (DESIGN.md §5): run its command in a new container of an image, or inside a container
 * that already runs (`exec`). The engine side (dockerode) lives in src/run/container/.
 */
import type { SchemaObject } from 'ajv';
import type { FieldError } from './errors.js';
import { label, showValue } from './schema-validator.js';

export type PullPolicy = 'always' | 'missing' | 'never';

/** Run the command in a new container of `image`, removed once it ends. */
export interface ContainerRunSpec {
  image: string;
  /** `missing` (default): pull when the engine lacks the image; `always`: pull at every attempt; `never`: fail when missing. */
  pull: PullPolicy;
  /** `user[:group]` inside the container; null: the image's. */
  user: string | null;
  /** The engine's network mode or network name; null: the engine's default (bridge). */
  network: string | null;
  /** Bind mounts and named volumes, `SOURCE:TARGET[:OPTIONS]` as the engine takes them. */
  volumes: string[];
  /** The command's cwd inside the container; null: the image's. */
  working_dir: string | null;
}

/** Run the command inside the running container named `exec` (docker exec). */
export interface ContainerExecSpec {
  exec: string;
  user: string | null;
  working_dir: string | null;
}

export type ContainerSpec = ContainerRunSpec | ContainerExecSpec;

/** True when the spec runs in an existing container. */
export function isExecSpec(spec: ContainerSpec): spec is ContainerExecSpec {
  return 'exec' in spec;
}

/**
 * Labels on containers. `job` and `execution` mark the containers watchbell runs (crash leftovers are found by
 * them); `enabled` marks a container whose `watchbell.job.<name>.<field>` labels declare jobs (daemon.docker_labels).
 */
export const CONTAINER_LABELS = Object.freeze({
  job: 'watchbell.job',
  execution: 'watchbell.execution',
  enabled: 'watchbell.enabled',
});

/** Default pull policy: what `docker run` does. */
export const DEFAULT_PULL: PullPolicy = 'missing';

const NAME = { type: 'string', minLength: 1, maxLength: 256, pattern: '^\\S+$' };

/** The schema of `container:` in a job, in `defaults:` and in request bodies; null means "on the host". */
export const CONTAINER_SCHEMA: SchemaObject = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    image: { type: 'string', minLength: 1, maxLength: 512, pattern: '^\\S+$' },
    pull: { enum: ['always', 'missing', 'never'] },
    exec: NAME,
    user: { type: ['string', 'null'], minLength: 1, maxLength: 256, pattern: '^\\S+$' },
    network: { ...NAME, type: ['string', 'null'] },
    volumes: { type: 'array', maxItems: 100, items: { type: 'string', minLength: 3, maxLength: 4096 } },
    working_dir: { type: ['string', 'null'], minLength: 1, maxLength: 4096 },
  },
};

/** What `container:` and its keys accept, for messages (keys as `container.KEY`). */
export const CONTAINER_EXPECTATIONS: Readonly<Record<string, string>> = {
  container: 'null, {image: IMAGE, pull, user, network, volumes, working_dir} to run in a new container, or {exec: CONTAINER, user, working_dir} to run in a running one',
  'container.image': 'an image reference such as "alpine:3.20" or "registry.example.com/tools/backup@sha256:..."',
  'container.pull': 'one of "always", "missing", "never"',
  'container.exec': 'the name or id of a running container',
  'container.user': 'a user inside the container: "name", "uid" or "uid:gid"',
  'container.network': 'a network mode or name such as "bridge", "host", "none" or "my-net"',
  'container.volumes': 'a list of "SOURCE:TARGET" or "SOURCE:TARGET:OPTIONS" with an absolute TARGET, e.g. "/srv/backups:/backups:rw"',
  'container.working_dir': 'an absolute path inside the container',
};

/** Keys that only mean something for a new container. */
const RUN_ONLY = ['pull', 'network', 'volumes'] as const;

/**
 * The problems schema checks cannot see: `image` and `exec` are exclusive and one is needed, run-only keys
 * with `exec`, a volume without an absolute target, a relative working_dir, and the host-only job fields
 * (`user`, `working_directory`) set on a container job. `job` holds the merged job fields; paths are under `prefix`.
 */
export function checkContainer(job: { container?: unknown; user?: unknown; working_directory?: unknown }, prefix = ''): FieldError[] {
  const c = job.container;
  if (c === null || c === undefined || typeof c !== 'object') return [];
  const errors: FieldError[] = [];
  const bad = (field: string, message: string) => {
    const path = `${prefix}/${field}`;
    errors.push({ path, message: `${label(path)}: ${message}` });
  };
  const spec = c as Record<string, unknown>;
  if (spec.image !== undefined && spec.exec !== undefined) {
    bad('container', 'has both image and exec; give image to run a new container, or exec to run in a running container');
  } else if (spec.image === undefined && spec.exec === undefined) {
    bad('container', 'needs image (run the command in a new container of that image) or exec (run it in the running container of that name)');
  } else if (spec.exec !== undefined) {
    for (const key of RUN_ONLY) {
      if (spec[key] !== undefined) bad(`container/${key}`, `only applies to a new container (with image); remove it, or use image instead of exec`);
    }
  }
  if (Array.isArray(spec.volumes)) {
    spec.volumes.forEach((v, i) => {
      if (typeof v !== 'string') return;
      const target = v.split(':')[1];
      if (target === undefined || !target.startsWith('/')) {
        bad(`container/volumes/${i}`, `${showValue(v)} is invalid; expected ${CONTAINER_EXPECTATIONS['container.volumes']}`);
      }
    });
  }
  if (typeof spec.working_dir === 'string' && !spec.working_dir.startsWith('/')) {
    bad('container/working_dir', `${showValue(spec.working_dir)} is not an absolute path; expected ${CONTAINER_EXPECTATIONS['container.working_dir']}`);
  }
  if (job.user !== undefined && job.user !== null) {
    bad('user', 'runs a host command as another user, and this job runs in a container; use container.user instead');
  }
  if (job.working_directory !== undefined && job.working_directory !== null) {
    bad('working_directory', 'is a folder on the host, and this job runs in a container; use container.working_dir instead');
  }
  return errors;
}

/** The spec of input that passed CONTAINER_SCHEMA and checkContainer, with defaults filled in; null for none. */
export function normalizeContainer(raw: unknown): ContainerSpec | null {
  if (raw === null || raw === undefined || typeof raw !== 'object') return null;
  const c = raw as Partial<ContainerRunSpec & ContainerExecSpec>;
  const common = { user: c.user ?? null, working_dir: c.working_dir ?? null };
  if (typeof c.exec === 'string') return { exec: c.exec, ...common };
  return { image: c.image!, pull: c.pull ?? DEFAULT_PULL, ...common, network: c.network ?? null, volumes: [...(c.volumes ?? [])] };
}
