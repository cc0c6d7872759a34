/**
 * Reads a config file, and the files its `include:` patterns match, into a validated Config, or a
 * ConfigError listing every problem as FILE:LINE:COL.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { globSync } from 'tinyglobby';
import { parseDuration } from '../jobs/duration.js';
import { describeCycle, findCycles } from '../jobs/chains.js';
import { WatchbellError, type FieldError } from '../jobs/errors.js';
import type { JobSpec } from '../jobs/job.js';
import { isValidTimezone } from '../jobs/schedule-spec.js';
import { addSchema, checkSchema, compileLater, isAboutKey, label, showValue } from '../jobs/schema-validator.js';
import { FIELD_EXPECTATIONS } from '../jobs/job-schema.js';
import { checkJobDefaults, validateJob } from '../jobs/validate-job.js';
import { CONFIG_SCHEMA, INCLUDE_FILE_SCHEMA } from './config-schema.js';
import { interpolate } from './interpolate.js';
import { parseListen } from './listen.js';
import { maskStoreUrl, storeUrlProblem } from './store-url.js';
import { DAEMON_DEFAULTS, SETTING_EXPECTATIONS, type ApiToken, type DaemonSettings } from './settings.js';
import { parseYaml, type Position, type YamlSource } from './yaml-source.js';
import { describeNotifierPath, parseNotifiers, type NotifierConfig } from '../notify/notifier-config.js';

addSchema(CONFIG_SCHEMA);
addSchema(INCLUDE_FILE_SCHEMA);
const validateConfigShape = compileLater(CONFIG_SCHEMA);
const validateIncludeShape = compileLater(INCLUDE_FILE_SCHEMA);

/** Where something is defined: an absolute file path and a position in it. */
export interface Place extends Position {
  file: string;
}

export interface ConfigJob {
  id: string;
  spec: JobSpec;
  /** The job's key under `jobs:`, in the config file or the included file that defines it. */
  place: Place;
}

/** The files a config was read from, for `--watch` and to tell a changed config from an unchanged one. */
export interface ConfigSources {
  /** Absolute paths: the config file first, then the included files in the order they were read. */
  files: string[];
  /** The `include:` patterns, made absolute against the config file's folder. */
  includes: string[];
  /** A digest of every file's path and text. */
  digest: string;
}

export interface Config {
  /** Absolute path of the file read. */
  file: string;
  daemon: DaemonSettings;
  /** `metrics_public` (set only when true): /metrics is served without a token even when tokens are configured. */
  api: { tokens: ApiToken[]; metrics_public?: boolean };
  /** `notifiers:` by name; jobs' `notify:` entries name them. */
  notifiers: Record<string, NotifierConfig>;
  jobs: ConfigJob[];
  sources: ConfigSources;
  /** Not errors, but worth telling the author: an `include:` pattern that matches no file. */
  warnings: ConfigProblem[];
}

export interface ConfigProblem extends Position {
  file: string;
  path: string;
  message: string;
}

/** A config that cannot be used; `problems` give every error with its place. */
export class ConfigError extends WatchbellError {
  readonly problems: ConfigProblem[];
  /** The files read before the problems were found, when the config file itself could be read. */
  readonly sources?: ConfigSources;

  constructor(problems: ConfigProblem[], sources?: ConfigSources) {
    super('CONFIG_INVALID', problems.map(formatProblem).join('\n'), {
      details: problems.map((p) => ({ path: p.path, message: formatProblem(p) })),
    });
    this.problems = problems;
    if (sources) this.sources = sources;
  }
}

/** `FILE:LINE:COL: message`, the form editors and CI annotators understand. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.message}`;
}

/** `FILE:LINE:COL` of a place. */
export function formatPlace(p: Place): string {
  return `${p.file}:${p.line}:${p.col}`;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** From command-line flags; they win over the file. */
  overrides?: Partial<DaemonSettings>;
  /** The name errors show for the file (default: the path as given). Included files are shown relative to it. */
  displayName?: string;
}

/** Loads and validates a config file and its included files. Throws ConfigError for anything wrong with them. */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new ConfigError([{ file: options.displayName ?? file, line: 1, col: 1, path: '', message: `cannot read config: ${reason}` }]);
  }
  return parseConfig(text, file, options);
}

/** A problem found in one file; `at` overrides where it points (by default keys at the key, values at the value). */
type Found = FieldError & { at?: 'key' | 'value' };

/** One YAML file being read: the config file or an included one. */
interface SourceFile {
  /** Absolute path. */
  path: string;
  /** The name problems show. */
  shown: string;
  text: string;
  source: YamlSource;
  found: Found[];
}

function sourceFile(path: string, shown: string, text: string): SourceFile {
  return { path, shown, text, source: parseYaml(text), found: [] };
}

/** `${VAR}` replaced in a file's value; a file without a `$` has nothing to replace (and 100,000 jobs to walk). */
function interpolateFile(f: SourceFile, raw: unknown, env: NodeJS.ProcessEnv): ReturnType<typeof interpolate> {
  return f.text.includes('$') ? interpolate(raw, env) : { value: raw, errors: [] };
}

function toProblem(f: SourceFile, e: Found): ConfigProblem {
  const at = e.at ?? (isAboutKey(e.message) ? 'key' : 'value');
  return { file: f.shown, path: e.path, message: e.message, ...f.source.positionOf(e.path, at) };
}

function syntaxProblems(f: SourceFile): ConfigProblem[] {
  return f.source.errors.map((e) => ({ file: f.shown, path: '', message: `invalid YAML: ${e.message}`, ...e.position }));
}

/**
 * Validates config text as if read from `file` (relative paths resolve against its folder).
 * Files named by `include:` are read from disk.
 */
export function parseConfig(text: string, file: string, options: LoadOptions = {}): Config {
  const main = sourceFile(resolve(file), options.displayName ?? file, text);
  const files: SourceFile[] = [main];
  const includes: string[] = [];
  const sources = (): ConfigSources => ({ files: files.map((f) => f.path), includes, digest: digestOf(files) });
  if (main.source.errors.length) throw new ConfigError(syntaxProblems(main), sources());
  const raw = main.source.value ?? {};
  if (!isMapping(raw)) {
    throw new ConfigError([toProblem(main, { path: '', message: 'the config must be a mapping with `version: 1` and `jobs:`' })], sources());
  }
  const env = options.env ?? process.env;
  const { value, errors: envErrors } = interpolateFile(main, raw, env);
  const doc = value as Record<string, unknown>;
  const problems = main.found;
  problems.push(...envErrors);
  const shapeErrors = checkSchema(validateConfigShape(), doc, { describe: describeConfigPath });
  problems.push(...shapeErrors);

  const daemon = daemonSettings(doc.daemon, file, options.overrides ?? {}, problems);
  const { notifiers, names: notifierNames } = parseNotifiers(doc.notifiers, shapeErrors, problems);
  const defaultsErrors = doc.defaults !== undefined ? checkJobDefaults(doc.defaults, '/defaults', notifierNames) : [];
  problems.push(...defaultsErrors);
  // A bad default is reported once, at `defaults:`, not again for every job it would reach.
  const badDefaults = new Set(defaultsErrors.map((e) => e.path.split('/')[2]));
  const defaults = isMapping(doc.defaults)
    ? Object.fromEntries(Object.entries(doc.defaults).filter(([k]) => !badDefaults.has(k)))
    : undefined;
  const tokens = apiTokens(doc.api, dirname(file), problems);

  const jobs = new JobCollector({ timezone: daemon.timezone, defaults, notifiers: notifierNames });
  jobs.add(main, doc.jobs);

  // Included files come after the config file's own jobs, pattern by pattern, each pattern's files sorted.
  const warnings: ConfigProblem[] = [];
  const patterns = Array.isArray(doc.include) ? doc.include : [];
  const seen = new Set<string>([main.path]);
  for (const [i, pattern] of patterns.entries()) {
    if (typeof pattern !== 'string' || pattern === '') continue; // the schema already said so
    includes.push(resolve(dirname(main.path), pattern));
    let matches: string[];
    try {
      matches = matchFiles(pattern, dirname(main.path));
    } catch (err) {
      problems.push({ path: `/include/${i}`, message: `include.${i}: ${showValue(pattern)} cannot be searched: ${(err as Error).message}` });
      continue;
    }
    if (matches.length === 0) {
      warnings.push(toProblem(main, { path: `/include/${i}`, message: `include.${i}: ${showValue(pattern)} matches no file` }));
    }
    for (const path of matches) {
      // A file matched twice is read once; the config file never includes itself.
      if (seen.has(path)) continue;
      seen.add(path);
      // Shown relative to the config file as the caller named it, so `config/conf.d/a.yaml` for `config/watchbell.yaml`.
      const shown = join(dirname(main.shown), relative(dirname(main.path), path));
      let included: SourceFile;
      try {
        included = sourceFile(path, shown, readFileSync(path, 'utf8'));
      } catch (err) {
        const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        problems.push({ path: `/include/${i}`, message: `include.${i}: cannot read ${shown}: ${reason}` });
        continue;
      }
      files.push(included);
      jobs.add(included, readIncludedFile(included, env));
    }
  }
  jobs.checkNames();
  jobs.checkChains();

  const all = files.flatMap((f) => {
    const found = f.source.errors.length ? syntaxProblems(f) : f.found.map((e) => toProblem(f, e));
    return found.sort((a, b) => a.line - b.line || a.col - b.col);
  });
  if (all.length) throw new ConfigError(all, sources());
  const metricsPublic = (doc.api as { metrics_public?: unknown } | undefined)?.metrics_public === true;
  return { file: main.path, daemon, api: { tokens, ...(metricsPublic ? { metrics_public: true } : {}) }, notifiers, jobs: jobs.jobs, sources: sources(), warnings };
}

/** The files a pattern matches, absolute and sorted; a directory matches nothing, nor do dot-files unless named. */
function matchFiles(pattern: string, cwd: string): string[] {
  return globSync(pattern, { cwd, absolute: true, onlyFiles: true, expandDirectories: false }).sort();
}

/** An included file's `jobs:` map, after interpolation; its problems go to `f.found`. */
function readIncludedFile(f: SourceFile, env: NodeJS.ProcessEnv): unknown {
  if (f.source.errors.length) return undefined;
  const raw = f.source.value ?? {};
  if (!isMapping(raw)) {
    f.found.push({ path: '', message: 'an included file must be a mapping with a `jobs:` map' });
    return undefined;
  }
  const { value, errors } = interpolateFile(f, raw, env);
  const doc = value as Record<string, unknown>;
  f.found.push(...errors);
  for (const key of Object.keys(doc)) {
    if (key === 'jobs') continue;
    const path = `/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    f.found.push({ path, message: `${label(path)}: not allowed in an included file; it holds only a jobs: map (version, daemon, api, defaults and include belong in the config file)` });
  }
  f.found.push(...checkSchema(validateIncludeShape(), 'jobs' in doc ? { jobs: doc.jobs } : {}, { describe: describeConfigPath }));
  return doc.jobs;
}

/** Validates jobs file by file, and checks that ids and names are unique across all the files. */
class JobCollector {
  readonly jobs: ConfigJob[] = [];
  private readonly placeOf = new Map<string, { file: SourceFile; position: Position }>();
  private readonly fileOf = new Map<string, SourceFile>();

  constructor(private readonly o: { timezone: string; defaults?: Record<string, unknown>; notifiers: readonly string[] }) {}

  add(f: SourceFile, jobMap: unknown): void {
    if (!isMapping(jobMap)) return; // the schema already said what `jobs:` must be
    for (const [id, body] of Object.entries(jobMap)) {
      const path = `/jobs/${id}`;
      const position = f.source.positionOf(path, 'key');
      const first = this.placeOf.get(id);
      if (first) {
        const where = `${first.file.shown}:${first.position.line}:${first.position.col}`;
        f.found.push({ path, at: 'key', message: `${label(path)}: job id "${id}" is already defined at ${where}; ids must be unique across the config file and its included files` });
      } else {
        this.placeOf.set(id, { file: f, position });
      }
      if (!isMapping(body)) continue; // the schema already said it must be a mapping
      for (const key of ['id', 'status'] as const) {
        if (key in body) {
          const why = key === 'id' ? "a config job's id is its key under jobs:" : 'pause a config job with `watchbell pause` or POST /api/v1/jobs/{id}/pause';
          f.found.push({ path: `${path}/${key}`, message: `${label(`${path}/${key}`)}: not allowed in the config file; ${why}` });
        }
      }
      try {
        const v = validateJob(stripKeys(body), { timezone: this.o.timezone, defaults: this.o.defaults, path, notifiers: this.o.notifiers });
        if (first) continue;
        this.jobs.push({ id, spec: { ...v.spec, name: v.spec.name || id }, place: { file: f.path, ...position } });
        this.fileOf.set(id, f);
      } catch (err) {
        if (!(err instanceof WatchbellError) || !err.details) throw err;
        f.found.push(...err.details);
      }
    }
  }

  /** Chains do not loop. */
  checkChains(): void {
    chainCycleProblems(this.jobs, this.fileOf);
  }

  /** Names are unique too; the second use is reported, naming the first (and its file, when another). */
  checkNames(): void {
    const names = new Map<string, ConfigJob>();
    for (const job of this.jobs) {
      const other = names.get(job.spec.name);
      names.set(job.spec.name, job);
      if (!other) continue;
      const f = this.fileOf.get(job.id)!;
      const otherFile = this.fileOf.get(other.id)!;
      const where = otherFile === f ? '' : ` (${otherFile.shown}:${other.place.line}:${other.place.col})`;
      f.found.push({ path: `/jobs/${job.id}/name`, message: `jobs.${job.id}.name: "${job.spec.name}" is already the name of job ${other.id}${where}; names must be unique` });
    }
  }
}

/** Chains among the config's own jobs must not loop (targets outside the config are checked by the daemon). */
function chainCycleProblems(jobs: readonly ConfigJob[], fileOf: ReadonlyMap<string, SourceFile>): void {
  const graph = new Map(jobs.map((j) => [j.id, j.spec] as const));
  for (const cycle of findCycles(graph)) {
    const first = cycle[0]!;
    const path = `/jobs/${first.from}/${first.field}`;
    fileOf.get(first.from)!.found.push({ path, message: `${label(path)}: chain cycle ${describeCycle(cycle)}; a job must not trigger itself through on_success / on_failure` });
  }
}

function digestOf(files: SourceFile[]): string {
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f.path}\0${f.text}\0`);
  return hash.digest('hex').slice(0, 16);
}

/** What a config path accepts, for messages: job keys are job ids, `daemon:` keys have their own words. */
function describeConfigPath(path: string, what: 'key' | 'value'): string | undefined {
  const [, top, key, field] = path.split('/');
  if (top === 'jobs' && what === 'key' && field === undefined) return FIELD_EXPECTATIONS.id;
  if (top === 'daemon' && key !== undefined) return SETTING_EXPECTATIONS[key];
  if (top === 'notifiers') return describeNotifierPath(path, what);
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
  for (const key of ['shutdown_grace', 'kill_grace', 'heartbeat', 'lease'] as const) {
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
  out.public_url = publicUrl(out.public_url, problems);
  out.store = storeUrl(out.store, problems);
  // A lease no longer than a heartbeat would expire between two of them: every node would look dead.
  if (out.heartbeat === 0) problems.push({ path: '/daemon/heartbeat', message: `daemon.heartbeat: 0 is too short; expected ${SETTING_EXPECTATIONS.heartbeat} of at least 1s` });
  else if (typeof out.heartbeat === 'number' && typeof out.lease === 'number' && out.lease <= out.heartbeat) {
    problems.push({ path: '/daemon/lease', message: `daemon.lease: ${out.lease}s is not longer than daemon.heartbeat (${out.heartbeat}s); expected ${SETTING_EXPECTATIONS.lease}` });
  }
  const listenError = parseListen(out.listen).error;
  if (listenError) problems.push({ path: '/daemon/listen', message: `daemon.listen: ${showValue(out.listen)} ${listenError}` });
  return out;
}

/** `daemon.public_url` without its trailing slash, so links join with `/api/v1/...`; a bad one is a problem. */
function publicUrl(value: unknown, problems: FieldError[]): string | null {
  if (typeof value !== 'string') return null; // null, or the schema already said
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    problems.push({ path: '/daemon/public_url', message: `daemon.public_url: ${showValue(value)} is invalid; expected ${SETTING_EXPECTATIONS.public_url}` });
    return null;
  }
  return value.replace(/\/+$/, '');
}

/** `daemon.store` checked as a postgres:// URL; a bad one is a problem, named without its password. */
function storeUrl(value: unknown, problems: FieldError[]): string | null {
  if (typeof value !== 'string') return null; // null, or the schema already said
  const problem = storeUrlProblem(value);
  if (problem === null) return value;
  problems.push({ path: '/daemon/store', message: `daemon.store: ${showValue(maskStoreUrl(value))} ${problem}; expected ${SETTING_EXPECTATIONS.store}` });
  return null;
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
