/** Reads a config file into a validated Config, or a ConfigError listing every problem as FILE:LINE:COL. */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseDuration } from '../jobs/duration.js';
import { WatchbellError, type FieldError } from '../jobs/errors.js';
import type { JobSpec } from '../jobs/job.js';
import { isValidTimezone } from '../jobs/schedule-spec.js';
import { addSchema, checkSchema, compile, isAboutKey, label, showValue } from '../jobs/schema-validator.js';
import { FIELD_EXPECTATIONS } from '../jobs/job-schema.js';
import { checkJobDefaults, validateJob } from '../jobs/validate-job.js';
import { CONFIG_SCHEMA } from './config-schema.js';
import { interpolate } from './interpolate.js';
import { parseListen } from './listen.js';
import { DAEMON_DEFAULTS, SETTING_EXPECTATIONS, type ApiToken, type DaemonSettings } from './settings.js';
import { parseYaml, type Position } from './yaml-source.js';

addSchema(CONFIG_SCHEMA);
const validateConfigShape = compile(CONFIG_SCHEMA);

export interface ConfigJob {
  id: string;
  spec: JobSpec;
}

export interface Config {
  /** Absolute path of the file read. */
  file: string;
  daemon: DaemonSettings;
  api: { tokens: ApiToken[] };
  jobs: ConfigJob[];
}

export interface ConfigProblem extends Position {
  file: string;
  path: string;
  message: string;
}

/** A config that cannot be used; `problems` give every error with its place. */
export class ConfigError extends WatchbellError {
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    super('CONFIG_INVALID', problems.map(formatProblem).join('\n'), {
      details: problems.map((p) => ({ path: p.path, message: `${p.file}:${p.line}:${p.col}: ${p.message}` })),
    });
    this.problems = problems;
  }
}

/** `FILE:LINE:COL: message`, the form editors and CI annotators understand. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.message}`;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** From command-line flags; they win over the file. */
  overrides?: Partial<DaemonSettings>;
  /** The name errors show for the file (default: the path as given). */
  displayName?: string;
}

/** Loads and validates a config file. Throws ConfigError for anything wrong with it. */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new ConfigError([{ file, line: 1, col: 1, path: '', message: `cannot read config: ${reason}` }]);
  }
  return parseConfig(text, file, options);
}

/** Validates config text as if read from `file` (relative paths resolve against its folder). */
export function parseConfig(text: string, file: string, options: LoadOptions = {}): Config {
  const shown = options.displayName ?? file;
  const source = parseYaml(text);
  // An unknown field is found at its key; anything else at its value.
  const at = (e: FieldError): ConfigProblem => ({
    file: shown, path: e.path, message: e.message,
    ...source.positionOf(e.path, isAboutKey(e.message) ? 'key' : 'value'),
  });
  if (source.errors.length) {
    throw new ConfigError(source.errors.map((e) => ({ file: shown, path: '', message: `invalid YAML: ${e.message}`, ...e.position })));
  }
  const raw = source.value ?? {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([at({ path: '', message: 'the config must be a mapping with `version: 1` and `jobs:`' })]);
  }
  const { value, errors: envErrors } = interpolate(raw, options.env ?? process.env);
  const doc = value as Record<string, unknown>;
  const problems: FieldError[] = [...envErrors];
  problems.push(...checkSchema(validateConfigShape, doc, { describe: describeConfigPath }));

  const daemon = daemonSettings(doc.daemon, file, options.overrides ?? {}, problems);
  const defaultsErrors = doc.defaults !== undefined ? checkJobDefaults(doc.defaults) : [];
  problems.push(...defaultsErrors);
  // A bad default is reported once, at `defaults:`, not again for every job it would reach.
  const badDefaults = new Set(defaultsErrors.map((e) => e.path.split('/')[2]));
  const defaults = isMapping(doc.defaults)
    ? Object.fromEntries(Object.entries(doc.defaults).filter(([k]) => !badDefaults.has(k)))
    : undefined;
  const tokens = apiTokens(doc.api, dirname(file), problems);

  const jobs: ConfigJob[] = [];
  const jobMap = (doc.jobs ?? {}) as Record<string, unknown>;
  if (jobMap && typeof jobMap === 'object' && !Array.isArray(jobMap)) {
    for (const [id, body] of Object.entries(jobMap)) {
      const path = `/jobs/${id}`;
      if (!isMapping(body)) continue; // the config schema already said it must be a mapping
      for (const key of ['id', 'status'] as const) {
        if (body && typeof body === 'object' && key in body) {
          const why = key === 'id' ? "a config job's id is its key under jobs:" : 'pause a config job with `watchbell pause` or POST /api/v1/jobs/{id}/pause';
          problems.push({ path: `${path}/${key}`, message: `${label(`${path}/${key}`)}: not allowed in the config file; ${why}` });
        }
      }
      try {
        const v = validateJob(stripKeys(body), { timezone: daemon.timezone, defaults, path });
        jobs.push({ id, spec: { ...v.spec, name: v.spec.name || id } });
      } catch (err) {
        if (!(err instanceof WatchbellError) || !err.details) throw err;
        problems.push(...err.details);
      }
    }
    const names = new Map<string, string>();
    for (const job of jobs) {
      const other = names.get(job.spec.name);
      if (other) problems.push({ path: `/jobs/${job.id}/name`, message: `jobs.${job.id}.name: "${job.spec.name}" is already the name of job ${other}; names must be unique` });
      names.set(job.spec.name, job.id);
    }
  }
  if (problems.length) throw new ConfigError(problems.map(at).sort((a, b) => a.line - b.line || a.col - b.col));
  return { file: resolve(file), daemon, api: { tokens }, jobs };
}

/** What a config path accepts, for messages: job keys are job ids, `daemon:` keys have their own words. */
function describeConfigPath(path: string, what: 'key' | 'value'): string | undefined {
  const [, top, key, field] = path.split('/');
  if (top === 'jobs' && what === 'key' && field === undefined) return FIELD_EXPECTATIONS.id;
  if (top === 'daemon' && key !== undefined) return SETTING_EXPECTATIONS[key];
  return undefined;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function stripKeys(body: unknown): unknown {
  if (!body || typeof body !== 'object') return body;
  const { id: _id, status: _status, ...rest } = body as Record<string, unknown>;
  return rest;
}

function daemonSettings(raw: unknown, file: string, overrides: Partial<DaemonSettings>, problems: FieldError[]): DaemonSettings {
  const given = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const s = { ...DAEMON_DEFAULTS, ...given } as Record<string, unknown>;
  for (const key of ['shutdown_grace', 'kill_grace'] as const) {
    const seconds = parseDuration(s[key]);
    if (seconds !== null) s[key] = seconds;
  }
  const tz = String(s.timezone);
  if (!isValidTimezone(tz)) {
    s.timezone = DAEMON_DEFAULTS.timezone; // so jobs can still be checked
    problems.push({ path: '/daemon/timezone', message: `daemon.timezone: ${showValue(tz)} is not a known time zone; expected ${SETTING_EXPECTATIONS.timezone}` });
  }
  // Relative paths in a file mean "next to this file", wherever the daemon was started from.
  s.data_dir = resolve(dirname(file), String(s.data_dir));
  const out = { ...s, ...stripUndefined(overrides) } as unknown as DaemonSettings;
  const listenError = parseListen(out.listen).error;
  if (listenError) problems.push({ path: '/daemon/listen', message: `daemon.listen: ${showValue(out.listen)} ${listenError}` });
  return out;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function apiTokens(raw: unknown, baseDir: string, problems: FieldError[]): ApiToken[] {
  const tokens = ((raw as { tokens?: ApiToken[] } | undefined)?.tokens ?? []).filter((t) => t && typeof t === 'object');
  return tokens.map((t, i) => {
    if (typeof t.token !== 'string' || !t.token.startsWith('file:')) return t;
    // Like data_dir, a relative path means next to the config file.
    const path = resolve(baseDir, t.token.slice('file:'.length));
    try {
      // Secrets mounted as files (Docker/systemd credentials) end with a newline that is not part of the token.
      return { ...t, token: readFileSync(path, 'utf8').trim() };
    } catch (err) {
      problems.push({ path: `/api/tokens/${i}/token`, message: `api.tokens.${i}.token: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      return t;
    }
  });
}
