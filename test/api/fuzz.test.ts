/**
 * The API under fuzzing (fast-check): at least 10,000 generated and mutated requests (random JSON, wrong
 * types, huge strings, unicode, deep nesting, duplicate keys, bad content types and encodings, random paths,
 * methods, tokens and headers, valid-looking jobs with one field mutated) sent to ONE running daemon over
 * loopback, keep-alive, 12 in flight. It asserts: no 5xx; every 4xx body is exactly
 * {"error": {"code", "message", "details"?}}; no write succeeds without an admin token; no environment
 * value comes back; the daemon is alive at the end and exits 0 on SIGTERM; and the job list afterwards holds
 * exactly the jobs of accepted creates that no accepted delete removed.
 *
 * Safety: the fuzzer makes jobs and runs them, so no request may make a job that runs anything but a
 * harmless command. Generated jobs use `true`-like commands and yearly schedules; a random command or a
 * random environment key is only ever sent with a schedule the daemon rejects (SENTINEL). `guard()` checks
 * every body as the daemon would read it (JSON or YAML, UTF-8 or Latin-1) before it is sent, whatever made it.
 *
 * The seed is printed; WATCHBELL_FUZZ_SEED=<seed> replays the same requests. WATCHBELL_FUZZ_RUNS changes the
 * number of batches of 100 (default 150: 15,000 requests, about 30 s on 2 cores).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Agent, METHODS } from 'node:http';
import { gzipSync } from 'node:zlib';
import { parseDocument, stringify as toYaml } from 'yaml';
import { YAML_BODY_LIMIT, yamlTooDeep } from '../../src/api/body.js';
import { configText, removeDir, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { rawRequest, type RawReply } from '../helpers/raw-request.js';

const ADMIN = 'fuzz-admin-token-5b1e2f';
const READ = 'fuzz-read-token-9c4d7a';
/** A schedule the daemon always rejects: the only one sent beside a random command or environment key. */
const SENTINEL = '*/0 * * * *';
/** Commands a fuzzed job may hold: they do nothing. */
const HARMLESS: ReadonlyArray<string | string[]> = ['true', ':', 'exit 0', ['true'], ['/bin/true']];
/** Schedules of generated jobs: none is due during the test. */
const FAR_SCHEDULES = ['@yearly', '0 0 1 1 *', '0 0 0 1 1 *', '0 3 29 2 *', '@every 8760h', '2099-12-31T23:59:59Z'];
/** Marks generated environment values, so the test can tell if one ever comes back. */
const SECRET_MARK = 'fz-s3cr3t-';
const MAX_JOBS = 300;
const CONFIG_JOB = 'cfg-job';
const IN_FLIGHT = 12;
const BATCH = 100;
const RUNS = Number(process.env.WATCHBELL_FUZZ_RUNS ?? 150);
const IS_ROOT = process.getuid?.() === 0;
const SEED = process.env.WATCHBELL_FUZZ_SEED !== undefined ? Number(process.env.WATCHBELL_FUZZ_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;

/** Codes the API documents (docs/api.md), plus the ones added with them. */
const CODES = new Set([
  'VALIDATION_FAILED', 'INVALID_JSON', 'INVALID_YAML', 'UNAUTHORIZED', 'FORBIDDEN', 'JOB_NOT_FOUND', 'EXECUTION_NOT_FOUND',
  'ROUTE_NOT_FOUND', 'METHOD_NOT_ALLOWED', 'JOB_EXISTS', 'JOB_OWNED_BY_CONFIG', 'JOB_ALREADY_RUNNING', 'JOB_COMPLETED',
  'EXECUTION_FINISHED', 'TOO_MANY_JOBS', 'BODY_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'CONFIG_INVALID',
  // Answered before routing, by the HTTP layer (src/api/client-error.ts).
  'HEADERS_TOO_LARGE', 'REQUEST_TIMEOUT', 'BAD_REQUEST',
]);

type Kind = 'create' | 'create-mutated' | 'update' | 'delete' | 'action' | 'list' | 'random-body' | 'raw-body' | 'random-path' | 'preview';
type Auth = 'admin' | 'read' | 'none' | 'garbage' | 'malformed';

interface FuzzRequest {
  kind: Kind;
  method: string;
  path: string;
  auth: Auth;
  headers: Record<string, string>;
  /** What the daemon reads, before any content encoding. */
  body?: Buffer;
  encoding?: 'gzip' | 'junk-gzip' | 'bogus';
  chunked?: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// Generators

const idPool = fc.integer({ min: 0, max: 39 }).map((i) => `f-${i}`);
const someId = fc.oneof(
  { arbitrary: idPool, weight: 8 },
  { arbitrary: fc.constant(CONFIG_JOB), weight: 1 },
  { arbitrary: fc.string({ maxLength: 70 }), weight: 1 },
);
const unicode = fc.string({ unit: 'grapheme', maxLength: 40 });
const bigString = fc.integer({ min: 1_000, max: 200_000 }).chain((n) => fc.constantFrom('x', 'é', '😀', '\u0000', ' ').map((c) => c.repeat(n)));
const nested = fc.integer({ min: 2, max: 60 }).map((n) => {
  let v: unknown = 'deep';
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { k: v };
  return v;
});
/** Anything a client might put in a field. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 6 },
  { arbitrary: unicode, weight: 3 },
  { arbitrary: fc.constantFrom(-1, 0, 1.5, 1e308, -0, 2 ** 53 + 2, 4294967295, '', ' ', '0', '-1', '1e3', 'null', 'true', '\u202e', '\ud800', '../../etc/passwd', '${HOME}', '$(id)', '`id`', '******'), weight: 3 },
  { arbitrary: bigString, weight: 1 },
  { arbitrary: nested, weight: 1 },
);

const secretValue = fc.string({ unit: 'grapheme-ascii', maxLength: 20 }).map((s) => SECRET_MARK + s);
const validFields = {
  id: idPool,
  name: fc.oneof(fc.integer({ min: 0, max: 60 }).map((i) => `name-${i}`), unicode.filter((s) => s.length > 0 && s.length <= 200)),
  schedule: fc.constantFrom(...FAR_SCHEDULES),
  timezone: fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe'),
  command: fc.constantFrom(...HARMLESS),
  tags: fc.array(fc.constantFrom('a', 'b', 'backup', 'ünï', 'x-y'), { maxLength: 4 }),
  timeout: fc.oneof(fc.integer({ min: 1, max: 3600 }), fc.constantFrom('90s', '5m', '1h30m', '1d')),
  retries: fc.integer({ min: 0, max: 2 }),
  retry_delay: fc.oneof(fc.integer({ min: 0, max: 2 }), fc.constant('1s')),
  environment: fc.dictionary(fc.constantFrom('FUZZ_A', 'FUZZ_B', 'FUZZ_PASSWORD'), secretValue, { maxKeys: 3 }),
  working_directory: fc.constantFrom(null, '/tmp', '/'),
  concurrency: fc.constantFrom('forbid', 'allow', 'replace'),
  catch_up: fc.constantFrom('none', 'latest'),
  starting_deadline: fc.oneof(fc.integer({ min: 0, max: 86400 }), fc.constant('2h')),
  history_limit: fc.integer({ min: 1, max: 20 }),
  max_output: fc.integer({ min: 1024, max: 1 << 20 }),
  status: fc.constantFrom('active', 'paused'),
  // Other users only where the daemon can switch to them (it runs as the tests' user).
  user: IS_ROOT ? fc.constantFrom(null, 'nobody', 65534, 'root', 0) : fc.constant(null),
};
type FieldName = keyof typeof validFields;
const FIELD_NAMES = Object.keys(validFields) as FieldName[];

const validJob: fc.Arbitrary<Record<string, unknown>> = fc.record(validFields, { requiredKeys: ['schedule', 'command'], noNullPrototype: true });

/** A valid job with one thing changed: a field's value, a field removed, an unknown field, or a random command (rejected). */
const mutatedJob: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(validJob, fc.constantFrom(...FIELD_NAMES, 'unknown', 'remove', 'command-random'), anyValue, unicode, fc.boolean())
  .map(([job, what, value, key, first]) => {
    const j = { ...job };
    if (what === 'unknown') j[key || 'colour'] = value;
    else if (what === 'remove') delete j[first ? 'schedule' : 'command'];
    else if (what === 'command-random' || what === 'command') Object.assign(j, { command: value, schedule: SENTINEL });
    else if (what === 'environment' && value !== null && typeof value === 'object' && !Array.isArray(value)) Object.assign(j, { environment: value, schedule: SENTINEL });
    else j[what] = value;
    return j;
  });

/** A PUT body: some valid fields, maybe one mutated; never a new command or environment key that could run. */
const updateBody: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(validJob, fc.subarray(FIELD_NAMES), fc.option(fc.tuple(fc.constantFrom(...FIELD_NAMES), anyValue), { nil: undefined }))
  .map(([job, keep, mutation]) => {
    const j: Record<string, unknown> = {};
    for (const k of keep) if (k in job && k !== 'id') j[k] = job[k];
    if (mutation) {
      const [field, value] = mutation;
      j[field] = value;
      if (field === 'command' || field === 'environment') j.schedule = SENTINEL;
    }
    return j;
  });

const contentType = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 12 },
  {
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8', 'application/json; charset=latin1', 'application/json; charset=bogus-9', 'application/JSON',
      'application/merge-patch+json', 'application/vnd.watchbell+json', 'application/yaml', 'text/yaml', 'application/x-yaml',
      'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=xyz', '*/*', 'application/', ';;;=',
      'application/json; charset="utf-8"; x=1', 'text/html',
    ),
    weight: 4,
  },
  { arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 30 }).map(headerSafe), weight: 1 },
);

const auth: fc.Arbitrary<Auth> = fc.constantFrom<Auth>(...(Array(34).fill('admin') as Auth[]), 'read', 'read', 'none', 'garbage', 'malformed');

const extraHeaders: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { arbitrary: fc.constant<Record<string, string>>({}), weight: 12 },
  { arbitrary: fc.constantFrom<Record<string, string>>({ origin: 'https://evil.example' }, { origin: 'null' }, { host: 'evil.example' }, { accept: 'text/html' }, { 'x-forwarded-for': '1.2.3.4' }, { 'accept-encoding': 'gzip, br' }, { 'x-http-method-override': 'DELETE' }), weight: 2 },
  { arbitrary: fc.dictionary(fc.stringMatching(/^x-[a-z0-9-]{1,20}$/), fc.string({ unit: 'grapheme-ascii', maxLength: 200 }).map(headerSafe), { maxKeys: 3 }), weight: 1 },
);

function headerSafe(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '').trim();
}

function encodePath(s: string): string {
  return encodeURIComponent(s);
}

const queryPart = fc.oneof(
  fc.constant(''),
  fc.array(fc.tuple(fc.constantFrom('limit', 'offset', 'status', 'tag', 'q', 'n', 'stream', 'tail', 'follow', 'schedule', 'timezone', 'x'), fc.oneof(fc.constantFrom('0', '1', '-1', '1000', '1001', 'abc', '', 'true', 'stdout', 'active', '1e3', '%', '99999999999999999999'), unicode)), { maxLength: 4 })
    .map((pairs) => (pairs.length ? '?' + pairs.map(([k, v]) => `${k}=${v === '%' ? '%' : encodeURIComponent(v)}`).join('&') : '')),
);

const jsonBody = (value: unknown) => Buffer.from(JSON.stringify(value) ?? 'null');

const createReq = fc.tuple(validJob, fc.boolean(), auth, extraHeaders).map(([job, yaml, a, extra]): FuzzRequest => ({
  kind: 'create', method: 'POST', path: '/api/v1/jobs', auth: a,
  headers: { 'content-type': yaml ? 'application/yaml' : 'application/json', ...extra },
  body: yaml ? Buffer.from(toYaml(job)) : jsonBody(job),
}));

const createMutatedReq = fc.tuple(mutatedJob, fc.boolean(), auth).map(([job, yaml, a]): FuzzRequest => ({
  kind: 'create-mutated', method: 'POST', path: '/api/v1/jobs', auth: a,
  headers: { 'content-type': yaml ? 'text/yaml' : 'application/json' },
  body: yaml ? Buffer.from(toYaml(job)) : jsonBody(job),
}));

const updateReq = fc.tuple(someId, updateBody, fc.boolean(), auth).map(([id, body, asYaml, a]): FuzzRequest => ({
  kind: 'update', method: 'PUT', path: `/api/v1/jobs/${encodePath(id)}`, auth: a,
  headers: { 'content-type': asYaml ? 'application/yaml' : 'application/json' },
  body: asYaml ? Buffer.from(toYaml(body)) : jsonBody(body),
}));

const deleteReq = fc.tuple(someId, auth).map(([id, a]): FuzzRequest => ({ kind: 'delete', method: 'DELETE', path: `/api/v1/jobs/${encodePath(id)}`, auth: a, headers: {} }));

const actionReq = fc
  .tuple(
    someId,
    fc.constantFrom('run', 'run', 'pause', 'resume', 'executions', 'tail', 'exec', 'log', 'cancel', ''),
    fc.oneof(fc.constant('exec-00000000000000000000'), fc.stringMatching(/^exec-[0-9a-z]{20}$/), unicode),
    queryPart,
    auth,
    extraHeaders,
  )
  .map(([id, action, eid, query, a, extra]): FuzzRequest => {
    const base = `/api/v1/jobs/${encodePath(id)}`;
    const e = encodePath(eid);
    const routes: Record<string, [string, string]> = {
      run: ['POST', `${base}/run`],
      pause: ['POST', `${base}/pause`],
      resume: ['POST', `${base}/resume`],
      executions: ['GET', `${base}/executions${query}`],
      tail: ['GET', `${base}/tail${query}`],
      exec: ['GET', `${base}/executions/${e}`],
      log: ['GET', `${base}/executions/${e}/log${query}`],
      cancel: ['POST', `${base}/executions/${e}/cancel`],
      '': ['GET', `${base}${query}`],
    };
    const [method, path] = routes[action]!;
    return { kind: 'action', method, path, auth: a, headers: extra };
  });

const listReq = fc.tuple(fc.constantFrom('/api/v1/jobs', '/api/v1/executions', '/api/v1/openapi.json', '/health', '/metrics'), queryPart, auth).map(
  ([p, q, a]): FuzzRequest => ({ kind: 'list', method: 'GET', path: p + q, auth: a, headers: {} }),
);

const knownPath = fc.oneof(
  fc.constantFrom('/api/v1/jobs', `/api/v1/jobs/${CONFIG_JOB}`, '/api/v1/jobs/f-1', '/api/v1/jobs/f-2/run', '/api/v1/executions', '/api/v1/schedule/next', '/health'),
  someId.map((id) => `/api/v1/jobs/${encodePath(id)}`),
);
const someMethod = fc.oneof(
  { arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'), weight: 6 },
  // Every method Node's parser accepts, but CONNECT (a tunnel, not a request).
  { arbitrary: fc.constantFrom(...METHODS.filter((m) => m !== 'CONNECT')), weight: 1 },
);

const randomBodyReq = fc.tuple(someMethod, knownPath, fc.jsonValue({ maxDepth: 6 }), contentType, auth, fc.constantFrom(undefined, undefined, undefined, 'gzip', 'junk-gzip', 'bogus'), fc.boolean()).map(
  ([method, path, value, type, a, encoding, chunked]): FuzzRequest => ({
    kind: 'random-body', method, path, auth: a, headers: type ? { 'content-type': type } : {}, body: jsonBody(value),
    ...(encoding ? { encoding: encoding as FuzzRequest['encoding'] } : {}), chunked,
  }),
);

/** Raw texts no serializer would write: broken, duplicated, deep, huge, odd bytes. */
const rawText: fc.Arbitrary<Buffer> = fc.oneof(
  // Duplicate keys: the last one wins in JSON.parse, so the later copy may be anything the guard allows.
  fc.tuple(validJob, fc.array(fc.tuple(fc.constantFrom(...FIELD_NAMES), anyValue), { minLength: 1, maxLength: 3 }), fc.boolean()).map(([job, dups, before]) => {
    const entries = Object.entries(job).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    const extra = dups.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`);
    return Buffer.from(`{${(before ? [...extra, ...entries] : [...entries, ...extra]).join(',')}}`);
  }),
  // Truncated or with trailing garbage.
  fc.tuple(validJob, fc.nat(), fc.constantFrom('', '}', ']', ',', 'garbage', '\u0000', '{}')).map(([job, cut, tail]) => {
    const text = JSON.stringify(job);
    return Buffer.from(text.slice(0, cut % (text.length + 1)) + tail);
  }),
  fc.integer({ min: 33, max: 200_000 }).map((n) => Buffer.from('['.repeat(n) + ']'.repeat(n))),
  fc.integer({ min: 33, max: 20_000 }).map((n) => Buffer.from('{"a":'.repeat(n) + '1' + '}'.repeat(n))),
  fc.constantFrom(
    '\uFEFF{"schedule":"@yearly","command":"true"}', '{"schedule":"@yearly","command":"true"', '{"__proto__":{"command":"true"}}',
    '{"constructor":{"prototype":{"x":1}}}', 'null', '[]', '{}', '""', '0', 'true', '{"schedule":"\\ud800","command":"true"}',
    'schedule: "@yearly"\ncommand: "true"\n', 'schedule: @yearly\n', '---\na: 1\n---\nb: 2\n', 'a: !!binary aGVsbG8=\n', 'a: !!js/function "x"\n',
    'a: &a [1]\nb: *a\nc: *nope\n', '{"schedule": "@yearly", "command": "true", "tags": [1, 2, 3]}', '\t\n ',
  ).map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.integer({ min: 1, max: 3 }).map((k) => Buffer.from(`{"name":"${'n'.repeat(k * 400_000)}","schedule":"@yearly","command":"true"}`)),
  unicode.map((s) => Buffer.from(s)),
);

const rawBodyReq = fc.tuple(fc.constantFrom(['POST', '/api/v1/jobs'], ['POST', '/api/v1/jobs'], ['PUT', '/api/v1/jobs/f-1'], ['PUT', '/api/v1/jobs/f-2']), rawText, contentType, auth, fc.boolean()).map(
  ([[method, path], body, type, a, chunked]): FuzzRequest => ({ kind: 'raw-body', method: method!, path: path!, auth: a, headers: { 'content-type': type }, body, chunked }),
);

const segment = fc.oneof(
  fc.constantFrom('api', 'v1', 'jobs', 'executions', 'log', 'run', 'schedule', 'next', '..', '.', '', '%2e%2e', '%2F', '%00', '%', '%zz', '%E0%A4%A', '%C0%AF', '~', 'health', 'metrics', 'openapi.json', CONFIG_JOB, 'f-1', 'exec-00000000000000000000'),
  unicode.map(encodePath),
  fc.integer({ min: 100, max: 4000 }).map((n) => 'p'.repeat(n)),
);
const randomPathReq = fc.tuple(someMethod, fc.array(segment, { minLength: 0, maxLength: 7 }), fc.boolean(), queryPart, auth, extraHeaders).map(
  ([method, segments, api, query, a, extra]): FuzzRequest => ({
    kind: 'random-path', method, path: `${api ? '/api/v1/' : '/'}${segments.join('/')}${query}`, auth: a, headers: extra,
  }),
);

const previewReq = fc.tuple(fc.oneof(fc.constantFrom(...FAR_SCHEDULES, '* * * * *', '*/0 * * * *', '@every 0s', '0 0 30 2 *', '60 * * * *', 'L W # ?', '@reboot'), unicode), fc.oneof(fc.constantFrom('UTC', 'Mars/Olympus', ''), unicode), fc.oneof(fc.integer({ min: -5, max: 200 }).map(String), unicode), auth).map(
  ([schedule, tz, n, a]): FuzzRequest => ({
    kind: 'preview', method: 'GET', path: `/api/v1/schedule/next?schedule=${encodeURIComponent(schedule)}&timezone=${encodeURIComponent(tz)}&n=${encodeURIComponent(n)}`, auth: a, headers: {},
  }),
);

const request: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { arbitrary: createReq, weight: 16 },
  { arbitrary: createMutatedReq, weight: 16 },
  { arbitrary: updateReq, weight: 10 },
  { arbitrary: deleteReq, weight: 7 },
  { arbitrary: actionReq, weight: 12 },
  { arbitrary: listReq, weight: 6 },
  { arbitrary: randomBodyReq, weight: 10 },
  { arbitrary: rawBodyReq, weight: 10 },
  { arbitrary: randomPathReq, weight: 8 },
  { arbitrary: previewReq, weight: 5 },
);

// ---------------------------------------------------------------------------------------------------------
// The safety guard

function isHarmless(command: unknown): boolean {
  return HARMLESS.some((h) => JSON.stringify(h) === JSON.stringify(command));
}

/** Every way the daemon could read these bytes as a body. */
function readings(bytes: Buffer): unknown[] {
  const out: unknown[] = [];
  const ascii = !bytes.some((b) => b > 0x7f);
  for (const encoding of ascii ? (['utf8'] as const) : (['utf8', 'latin1'] as const)) {
    const text = bytes.toString(encoding).replace(/^\uFEFF/, '');
    try {
      out.push(JSON.parse(text));
    } catch {
      // not JSON
    }
    // The daemon parses no YAML over its limit or nested too deep (nor should this process: deep YAML can crash it).
    if (bytes.length > YAML_BODY_LIMIT || yamlTooDeep(text)) continue;
    try {
      const doc = parseDocument(text, { uniqueKeys: false, logLevel: 'silent' });
      out.push(doc.toJS({ maxAliasCount: 1000 }));
    } catch {
      // not YAML
    }
  }
  return out;
}

/** True when a body could make a job that runs something other than a harmless command. */
function unsafe(body: Buffer): boolean {
  for (const v of readings(body)) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) continue;
    const job = v as Record<string, unknown>;
    if (job.schedule === SENTINEL) continue;
    if ('command' in job && !isHarmless(job.command)) return true;
    // An environment that is not an object is refused by the schema and never reaches a process.
    const env = job.environment;
    if (env !== null && typeof env === 'object' && !Array.isArray(env) && Object.keys(env).some((k) => !/^FUZZ_[A-Z0-9_]*$/.test(k))) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------
// Sending and checking

interface Outcome {
  req: FuzzRequest;
  res: RawReply;
}

const TOKENS: Record<Auth, string | undefined> = { admin: `Bearer ${ADMIN}`, read: `Bearer ${READ}`, none: undefined, garbage: 'Bearer not-a-real-token', malformed: `Basic ${ADMIN}` };

function wire(req: FuzzRequest) {
  const headers: Record<string, string> = { ...req.headers };
  const token = TOKENS[req.auth];
  if (token) headers.authorization = token;
  let body = req.body;
  if (body && req.encoding === 'gzip') {
    body = gzipSync(body);
    headers['content-encoding'] = 'gzip';
  } else if (body && req.encoding === 'junk-gzip') headers['content-encoding'] = 'gzip';
  else if (body && req.encoding === 'bogus') headers['content-encoding'] = 'x-bogus';
  return { method: req.method, path: req.path, headers, body, chunked: req.chunked };
}

/** One line that replays a request by hand. */
function show(req: FuzzRequest, res?: RawReply): string {
  const body = req.body ? ` body(${req.body.length} bytes)=${JSON.stringify(req.body.toString('utf8').slice(0, 300))}` : '';
  const answer = res ? `\n  -> ${res.status} ${res.text.slice(0, 400)}` : '';
  return `${req.kind}: ${req.method} ${req.path.slice(0, 300)} auth=${req.auth} headers=${JSON.stringify(req.headers)}${req.encoding ? ` encoding=${req.encoding}` : ''}${req.chunked ? ' chunked' : ''}${body}${answer}`;
}

function check(req: FuzzRequest, res: RawReply): void {
  const fail = (why: string) => {
    throw new Error(`${why}\n  request ${show(req, res)}`);
  };
  if (res.status >= 500) fail(`answered ${res.status}`);
  if (res.headers['cache-control'] !== 'no-store' && res.status !== 431) fail('no Cache-Control: no-store');
  if (res.headers.server !== undefined || res.headers['x-powered-by'] !== undefined) fail('a server fingerprint header');
  if (Object.keys(res.headers).some((h) => h.startsWith('access-control-'))) fail('a CORS header');
  if (res.text.includes(SECRET_MARK)) fail('an environment value came back');
  const isApi = req.path.startsWith('/api/v1/');
  const isWrite = !['GET', 'HEAD', 'OPTIONS'].includes(req.method);
  if (res.status < 300 && isApi && req.method !== 'OPTIONS') {
    if (req.auth !== 'admin' && req.auth !== 'read') fail('a 2xx without a valid token');
    if (isWrite && req.auth !== 'admin') fail('a write succeeded without an admin token');
    if (req.headers.origin !== undefined) fail('a 2xx to a request from a web page');
  }
  if (res.status >= 400 && req.method !== 'HEAD') {
    if (!String(res.headers['content-type']).startsWith('application/json')) fail('a 4xx that is not JSON');
    const b = res.body as { error?: Record<string, unknown> } | undefined;
    if (!b || typeof b !== 'object' || Object.keys(b).join() !== 'error' || !b.error || typeof b.error !== 'object') fail('a 4xx not shaped {"error": {...}}');
    const e = b!.error!;
    const keys = Object.keys(e);
    if (keys[0] !== 'code' || keys[1] !== 'message' || keys.length > 3 || (keys.length === 3 && keys[2] !== 'details')) fail(`error keys ${keys.join(',')}`);
    if (typeof e.code !== 'string' || !CODES.has(e.code)) fail(`undocumented error code ${String(e.code)}`);
    if (typeof e.message !== 'string' || e.message.length === 0 || /\n\s+at /.test(e.message)) fail('a bad error message');
    if (e.details !== undefined) {
      if (!Array.isArray(e.details) || e.details.length === 0) fail('details not a non-empty array');
      for (const d of e.details as unknown[]) {
        const dk = d && typeof d === 'object' ? Object.keys(d) : [];
        if (dk.join() !== 'path,message' || typeof (d as { path: unknown }).path !== 'string' || typeof (d as { message: unknown }).message !== 'string') fail('a detail not shaped {path, message}');
      }
    }
  }
  // A valid job sent by an admin is created, or refused for a taken id or name, or the cap.
  if (req.kind === 'create' && req.auth === 'admin' && req.headers.origin === undefined && req.headers.host === undefined) {
    if (!(res.status === 201 || (res.status === 409 && ['JOB_EXISTS', 'TOO_MANY_JOBS'].includes(res.body?.error?.code)))) fail('a valid job was not accepted');
  }
  if (res.status < 300 && res.body && typeof res.body === 'object' && !req.path.startsWith('/api/v1/openapi.json')) {
    // Every environment in an answer is masked (the OpenAPI document has schemas named environment, not values).
    const stack: unknown[] = [res.body];
    while (stack.length) {
      const v = stack.pop();
      if (v === null || typeof v !== 'object') continue;
      const o = v as Record<string, unknown>;
      if (o.environment && typeof o.environment === 'object' && Object.values(o.environment).some((x) => x !== '******')) fail('an unmasked environment');
      stack.push(...Object.values(o));
    }
  }
}

describe('fuzzed API (fast-check, black-box)', function () {
  this.timeout(180_000);
  let d: DaemonProcess;

  before(async function () {
    const extra = `api:\n  tokens:\n    - { name: fuzz-admin, token: ${ADMIN}, scope: admin }\n    - { name: fuzz-read, token: ${READ}, scope: read }\n`;
    const config = configText(`  ${CONFIG_JOB}:\n    schedule: "@yearly"\n    command: "true"\n`, extra).replace('  kill_grace: 1s\n', `  kill_grace: 1s\n  max_jobs: ${MAX_JOBS}\n`);
    d = await startDaemon({ config });
  });

  after(async function () {
    if (!d) return;
    await d.stop();
    await removeDir(d.dir);
  });

  it(`survives ${RUNS * BATCH} generated requests and keeps exactly the jobs it accepted`, async function () {
    console.log(`    fuzz seed: ${SEED} (replay: WATCHBELL_FUZZ_SEED=${SEED})`);
    const started = Date.now();
    const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
    const created = new Map<string, number>();
    const deleted = new Map<string, number>();
    const statuses = new Map<number, number>();
    let sent = 0;
    let neutralized = 0;
    let socketErrors = 0;
    const slow: string[] = [];

    const sendOne = async (req: FuzzRequest): Promise<Outcome> => {
      if (req.body !== undefined && unsafe(req.body)) {
        // Never sent: a body that could make a job run something. Replaced by a harmless read.
        neutralized++;
        req = { kind: 'list', method: 'GET', path: '/api/v1/jobs', auth: 'admin', headers: {} };
      }
      let res: RawReply;
      const t0 = Date.now();
      try {
        res = await rawRequest(d.url, wire(req), agent);
        const ms = Date.now() - t0;
        if (ms > 1000) slow.push(`${ms} ms: ${show(req).slice(0, 200)}`);
      } catch (err) {
        // The daemon may close a connection on a body it refuses (413) before the client has sent it all.
        const code = (err as NodeJS.ErrnoException).code;
        if ((code === 'ECONNRESET' || code === 'EPIPE') && (req.body?.length ?? 0) > 64 * 1024) {
          socketErrors++;
          return { req, res: { status: 413, headers: { 'cache-control': 'no-store' }, text: '', body: undefined } };
        }
        throw new Error(`socket error ${code ?? ''} ${(err as Error).message}\n  request ${show(req)}`);
      }
      sent++;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      check(req, res);
      // Only a create answers 201.
      if (res.status === 201) {
        const id = String(res.body.data.id);
        created.set(id, (created.get(id) ?? 0) + 1);
      }
      if (req.method === 'DELETE' && res.status === 200 && res.body?.data?.message === 'Job deleted successfully') {
        const id = String(res.body.data.id);
        deleted.set(id, (deleted.get(id) ?? 0) + 1);
      }
      return { req, res };
    };

    const details = await fc.check(
      fc.asyncProperty(fc.array(request, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        let next = 0;
        const worker = async () => {
          while (next < batch.length) await sendOne(batch[next++]!);
        };
        await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      }),
      // The daemon keeps state from run to run: shrinking would replay against a different state, so failures are reported as found.
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    agent.destroy();
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const histogram = [...statuses.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}:${n}`).join(' ');
    console.log(`    fuzz: ${sent} requests in ${seconds}s (${neutralized} unsafe bodies replaced, ${socketErrors} refused mid-body); statuses ${histogram}`);
    if (slow.length) console.log(`    fuzz: ${slow.length} requests took over 1 s, e.g.\n      ${slow.slice(0, 5).join('\n      ')}`);
    if (details.failed) {
      const err = details.errorInstance as Error | undefined;
      throw new Error(`fuzz failed after ${details.numRuns} batches; replay with WATCHBELL_FUZZ_SEED=${SEED}\n${err?.message ?? String(details.errorInstance)}`);
    }
    expect(sent).to.be.at.least(10_000);

    // Still alive and answering.
    const health = await rawRequest(d.url, { method: 'GET', path: '/health' });
    expect(health.status, health.text).to.equal(200);

    // For one id, accepted creates and deletes alternate, starting with a create: their difference says if it is there.
    const expected = new Set([CONFIG_JOB]);
    for (const [id, n] of created) {
      const diff = n - (deleted.get(id) ?? 0);
      expect(diff, `job ${id}: ${n} accepted creates, ${deleted.get(id) ?? 0} accepted deletes`).to.be.oneOf([0, 1]);
      if (diff === 1) expected.add(id);
    }
    for (const [id, n] of deleted) expect(n, `job ${id} deleted more often than created`).to.be.at.most(created.get(id) ?? 0);
    const list = await rawRequest(d.url, { method: 'GET', path: '/api/v1/jobs?limit=1000', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(list.status).to.equal(200);
    expect(list.body.pagination.total).to.be.at.most(MAX_JOBS);
    const actual = (list.body.data as Array<{ id: string; command: unknown }>);
    expect(actual.map((j) => j.id).sort()).to.deep.equal([...expected].sort());
    for (const j of actual) expect(isHarmless(j.command), `job ${j.id} has command ${JSON.stringify(j.command)}`).to.equal(true);
    console.log(`    fuzz: ${[...created.values()].reduce((a, b) => a + b, 0)} jobs created, ${[...deleted.values()].reduce((a, b) => a + b, 0)} deleted, ${actual.length} left`);

    // And it stops cleanly.
    const exit = await d.stop();
    expect(exit.code, d.stderr.join('\n')).to.equal(0);
    const errors = d.lines.filter((l) => l.event === 'api.error' || l.event === 'internal.error');
    expect(errors.map((l) => JSON.stringify(l).slice(0, 500))).to.deep.equal([]);
    // Nothing a client sent made it print outside its JSON log (parser warnings, stack traces).
    expect(d.stderr.slice(0, 20)).to.deep.equal([]);
  });
});
