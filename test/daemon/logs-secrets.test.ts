/**
 * Black-box: the daemon's own log. Secrets (environment values, API tokens) never appear in any line,
 * whatever the requests, runs and reloads; every line names a documented event; `--log-format pretty`
 * and `--log-level` work.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BIN, configText, removeDir, ROOT, startDaemon, tempDir, type ApiReply, type DaemonProcess } from '../helpers/daemon-process.js';

const secret = (what: string) => `${what}-${randomBytes(12).toString('hex')}`;

/** The event names docs/operations.md lists under "Log events". */
function documentedEvents(): Set<string> {
  const text = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
  const start = text.indexOf('### Log events');
  expect(start, 'docs/operations.md has a "### Log events" section').to.be.greaterThan(-1);
  const section = text.slice(start, text.indexOf('\n## ', start) === -1 ? undefined : text.indexOf('\n## ', start));
  return new Set([...section.matchAll(/^\| `([a-z_]+(?:\.[a-z_]+)+)` \|/gm)].map((m) => m[1]!));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A daemon whose stdout is kept as raw text lines (for formats and levels the JSON helper cannot read). */
class RawDaemon {
  readonly out: string[] = [];
  readonly err: string[] = [];
  private waiters: Array<{ pred: (line: string) => boolean; resolve: () => void }> = [];
  readonly exited: Promise<number | null>;

  constructor(readonly proc: ChildProcess, readonly url: string) {
    this.exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      this.out.push(line);
      this.waiters = this.waiters.filter((w) => (w.pred(line) ? (w.resolve(), false) : true));
    });
    createInterface({ input: proc.stderr! }).on('line', (line) => this.err.push(line));
  }

  static async start(dir: string, config: string, args: string[]): Promise<RawDaemon> {
    const port = await freePort();
    await writeFile(join(dir, 'watchbell.yaml'), config.replace('listen: 127.0.0.1:0', `listen: 127.0.0.1:${port}`));
    const proc = spawn(process.execPath, [BIN, 'daemon', '--config', join(dir, 'watchbell.yaml'), ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const d = new RawDaemon(proc, `http://127.0.0.1:${port}`);
    // Up once /health answers: with --log-level warn there is no "listening" line to wait for.
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${d.url}/health`)).ok) return d;
      } catch {
        // Not listening yet.
      }
      if (i > 200 || proc.exitCode !== null) throw new Error(`daemon did not start; stderr:\n${d.err.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  waitFor(pred: (line: string) => boolean, timeoutMs = 15_000): Promise<void> {
    if (this.out.some(pred)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no such line; last lines:\n${this.out.slice(-10).join('\n')}`)), timeoutMs);
      this.waiters.push({ pred, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  async stop(): Promise<number | null> {
    if (this.proc.exitCode === null) this.proc.kill('SIGTERM');
    return this.exited;
  }
}

describe('daemon logs (black-box)', function () {
  const dirs: string[] = [];
  after(async function () {
    for (const dir of dirs) await removeDir(dir);
  });

  describe('secrets never appear in the log', function () {
    const s = {
      adminToken: secret('admin-token'),
      readToken: secret('read-token'),
      rotatedToken: secret('rotated-token'),
      wrongToken: secret('wrong-token'),
      dbPassword: secret('db-password'),
      apiKey: secret('api-key'),
      timeoutSecret: secret('timeout-secret'),
      reloadedSecret: secret('reloaded-secret'),
      badReloadSecret: secret('bad-reload-secret'),
      apiJobSecret: secret('api-job-secret'),
      updatedSecret: secret('updated-secret'),
      invalidBodySecret: secret('invalid-body-secret'),
      brokenJsonSecret: secret('broken-json-secret'),
      brokenYamlSecret: secret('broken-yaml-secret'),
      forbiddenSecret: secret('forbidden-secret'),
      configPutSecret: secret('config-put-secret'),
    };
    const env = {
      WB_ADMIN_TOKEN: s.adminToken,
      WB_READ_TOKEN: s.readToken,
      WB_ROTATED_TOKEN: s.rotatedToken,
      WB_DB_PASSWORD: s.dbPassword,
      WB_API_KEY: s.apiKey,
      WB_TIMEOUT_SECRET: s.timeoutSecret,
      WB_RELOADED_SECRET: s.reloadedSecret,
      WB_BAD_RELOAD_SECRET: s.badReloadSecret,
    };
    const tokens = (adminVar: string) =>
      `api:\n  tokens:\n    - name: admin\n      token: \${${adminVar}}\n      scope: admin\n    - name: reader\n      token: \${WB_READ_TOKEN}\n      scope: read\n`;
    const jobs = `
  every-second:
    schedule: "* * * * * *"
    command: 'test -n "$DB_PASSWORD" && echo has a password'
    environment:
      DB_PASSWORD: \${WB_DB_PASSWORD}
  fails:
    schedule: "@yearly"
    command: 'test -n "$API_KEY" && echo failing >&2; exit 3'
    retries: 1
    retry_delay: 0
    environment:
      API_KEY: \${WB_API_KEY}
  times-out:
    schedule: "@yearly"
    command: sleep 30
    timeout: 1
    environment:
      TIMEOUT_SECRET: \${WB_TIMEOUT_SECRET}
`;
    let d: DaemonProcess;
    /** Answers to requests that carried no secret of their own in a malformed body. */
    const answers: ApiReply[] = [];
    let admin = s.adminToken;
    const as = (token: string) => ({ authorization: `Bearer ${token}` });
    const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = as(admin)) => {
      const res = await d.api(method, path, body, headers);
      answers.push(res);
      return res;
    };

    before(async function () {
      const dir = await tempDir();
      dirs.push(dir);
      // trace: the most the daemon ever logs.
      d = await startDaemon({ dir, config: configText(jobs, tokens('WB_ADMIN_TOKEN')), env, args: ['--log-level', 'trace'] });
    });

    it('through bad and good requests, runs, timeouts, failures and reloads', async function () {
      // Authentication failures, with the token in every place a client might put it.
      expect((await call('GET', '/api/v1/jobs', undefined, {})).status).to.equal(401);
      expect((await call('GET', '/api/v1/jobs', undefined, as(s.wrongToken))).status).to.equal(401);
      expect((await call('GET', `/api/v1/jobs?token=${s.adminToken}`, undefined, {})).status).to.equal(401);
      expect((await call('GET', '/api/v1/jobs', undefined, { authorization: `Token ${s.adminToken}` })).status).to.equal(401);
      expect((await call('GET', '/metrics', undefined, as(s.wrongToken))).status).to.equal(401);
      const forbidden = await call('POST', '/api/v1/jobs', { schedule: '@daily', command: 'true', environment: { K: s.forbiddenSecret } }, as(s.readToken));
      expect(forbidden.status).to.equal(403);

      // A job with a secret, and requests that fail validation around secrets.
      const created = await call('POST', '/api/v1/jobs', { id: 'api-job', schedule: '@hourly', command: 'echo "$API_SECRET"', environment: { API_SECRET: s.apiJobSecret } });
      expect(created.status, created.text).to.equal(201);
      const invalid = await call('POST', '/api/v1/jobs', {
        id: 'Bad Id', schedule: '*/0 * * * *', command: '', timeout: 'forever', colour: 'red',
        environment: { 'bad key': s.invalidBodySecret, OK: s.invalidBodySecret, LONG: `${s.invalidBodySecret}${'x'.repeat(70_000)}` },
      });
      expect(invalid.status).to.equal(400);
      expect((await d.api('POST', '/api/v1/jobs', `{"schedule": "@daily", "environment": {"K": "${s.brokenJsonSecret}"`, as(admin))).status).to.equal(400);
      const yaml = `schedule: "@daily"\ncommand: true\nenvironment:\n  K: "${s.brokenYamlSecret}\n  : [\n`;
      expect((await d.api('POST', '/api/v1/jobs', yaml, { ...as(admin), 'content-type': 'application/yaml' })).status).to.equal(400);
      expect((await call('POST', '/api/v1/jobs', `environment: {K: ${s.brokenYamlSecret}}`, { ...as(admin), 'content-type': 'text/plain' })).status).to.equal(415);
      const updated = await call('PUT', '/api/v1/jobs/api-job', { environment: { API_SECRET: '******', NEW_SECRET: s.updatedSecret } });
      expect(updated.status, updated.text).to.equal(200);
      expect((await call('PUT', '/api/v1/jobs/every-second', { environment: { K: s.configPutSecret } })).status).to.equal(409);
      expect((await call('GET', '/api/v1/jobs')).status).to.equal(200);

      // Runs: success, failure after a retry, timeout; and a scheduled job twice.
      const runs = ['api-job', 'fails', 'times-out'].map(async (id) => {
        const res = await call('POST', `/api/v1/jobs/${id}/run`);
        expect(res.status, res.text).to.equal(202);
        return d.finished(res.body.data.execution_id, 20_000);
      });
      const [ok, failed, timedOut] = await Promise.all(runs);
      expect(ok!.status).to.equal('success');
      expect(failed!.status).to.equal('failure');
      expect(timedOut!.reason).to.equal('timeout');
      await d.waitFor((l) => l.event === 'execution.finished' && l.job_id === 'every-second');
      // Executions hold the jobs' own output, which here prints their secrets: not checked below.
      const eid = (await d.api('GET', '/api/v1/jobs/api-job/executions', undefined, as(admin))).body.data[0].id;
      expect((await d.api('GET', `/api/v1/jobs/api-job/executions/${eid}/log`, undefined, as(admin))).text).to.include(s.apiJobSecret);
      await call('GET', '/metrics');

      // A good reload by SIGHUP that rotates the admin token and adds a job with a secret.
      const reloaded = jobs + `  added:\n    schedule: "@daily"\n    command: "true"\n    environment:\n      RELOADED: \${WB_RELOADED_SECRET}\n`;
      await writeFile(d.configFile, configText(reloaded, tokens('WB_ROTATED_TOKEN')));
      const seen = d.lines.length;
      d.proc.kill('SIGHUP');
      await d.waitFor((l) => l.event === 'config.reloaded' && d.lines.indexOf(l) >= seen);
      admin = s.rotatedToken;
      expect((await call('GET', '/api/v1/jobs/added')).status).to.equal(200);
      expect((await call('GET', '/api/v1/jobs', undefined, as(s.adminToken))).status).to.equal(401);
      expect((await call('POST', '/api/v1/config/reload')).status).to.equal(200);

      // A bad reload, by SIGHUP and by the API: the errors are logged, the secrets are not.
      const bad = reloaded + `  broken:\n    schedule: "@daily"\n    command: "true"\n    retries: lots\n    environment:\n      BAD: \${WB_BAD_RELOAD_SECRET}\n      "bad key": \${WB_BAD_RELOAD_SECRET}\n      NUMBER: 12345\n`;
      await writeFile(d.configFile, configText(bad, tokens('WB_ROTATED_TOKEN')));
      const before = d.lines.length;
      d.proc.kill('SIGHUP');
      await d.waitFor((l) => l.event === 'config.reload_failed' && d.lines.indexOf(l) >= before);
      const refused = await call('POST', '/api/v1/config/reload');
      expect(refused.status, refused.text).to.equal(400);

      expect((await call('DELETE', '/api/v1/jobs/api-job')).status).to.equal(200);
      expect((await d.stop()).code).to.equal(0);

      const everything = [...d.lines.map((l) => JSON.stringify(l)), ...d.stderr].join('\n');
      expect(d.lines.length).to.be.greaterThan(20);
      for (const [name, value] of Object.entries(s)) {
        const at = everything.split('\n').find((line) => line.includes(value));
        expect(at, `secret ${name} appears in the daemon's log:\n${at}`).to.equal(undefined);
      }
      // Nor does the API answer with environment values (tokens are the client's own, and malformed
      // bodies the parsers quote back are not in `answers`).
      const envSecrets = [s.dbPassword, s.apiKey, s.timeoutSecret, s.reloadedSecret, s.badReloadSecret, s.apiJobSecret, s.updatedSecret, s.invalidBodySecret, s.forbiddenSecret, s.configPutSecret];
      for (const res of answers) {
        for (const value of envSecrets) expect(res.text, `an API answer (${res.status}) holds a secret`).not.to.include(value);
      }
    });

    it('logs every line with an event name that docs/operations.md lists', function () {
      const documented = documentedEvents();
      const events = new Set<string>();
      for (const line of d.lines) {
        expect(line.event, `a log line without an event: ${JSON.stringify(line)}`).to.be.a('string');
        events.add(line.event!);
      }
      const undocumented = [...events].filter((e) => !documented.has(e));
      expect(undocumented, 'events to list in docs/operations.md "Log events"').to.deep.equal([]);
      for (const e of ['daemon.started', 'daemon.stopping', 'daemon.stopped', 'job.scheduled', 'job.due', 'execution.started', 'execution.finished', 'config.reloaded', 'config.reload_failed']) {
        expect(events, e).to.include(e);
      }
    });
  });

  describe('--log-format and --log-level', function () {
    let dir: string;
    beforeEach(async function () {
      dir = await tempDir();
      dirs.push(dir);
    });

    it('--log-format pretty writes lines for people, not JSON', async function () {
      const d = await RawDaemon.start(dir, configText('  {}\n'), ['--log-format', 'pretty']);
      await d.waitFor((l) => l.includes('watchbell listening on'));
      expect((await d.stop())).to.equal(0);
      const text = d.out.join('\n');
      expect(d.out.filter((l) => l.startsWith('{'))).to.deep.equal([]);
      expect(text).to.match(/INFO.*watchbell listening on http:\/\/127\.0\.0\.1:\d+/);
      expect(text).to.include('daemon.started').and.include('daemon.stopping');
    });

    it('--log-level warn leaves out info lines; --log-level debug adds job.due', async function () {
      const config = configText('  broken:\n    schedule: "* * * * * *"\n    command: exit 1\n');
      const warn = await RawDaemon.start(dir, config, ['--log-level', 'warn']);
      await warn.waitFor((l) => l.includes('"execution.finished"'));
      expect(await warn.stop()).to.equal(0);
      const levels = warn.out.map((l) => (JSON.parse(l) as { level: number }).level);
      expect(Math.min(...levels)).to.be.at.least(40);
      expect(warn.out.join('\n')).not.to.include('daemon.started');

      const debug = await RawDaemon.start(dir, config, ['--log-level', 'debug']);
      await debug.waitFor((l) => l.includes('"job.due"'));
      expect(await debug.stop()).to.equal(0);
      const due = debug.out.map((l) => JSON.parse(l) as { event: string; level: number; late_ms: number }).find((l) => l.event === 'job.due')!;
      expect(due.level).to.equal(20);
      expect(due.late_ms).to.be.a('number');
    });

    it('refuses an unknown level or format', async function () {
      for (const args of [['--log-level', 'loud'], ['--log-format', 'xml']]) {
        const proc = spawn(process.execPath, [BIN, 'daemon', '--config', join(dir, 'none.yaml'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
        expect(code, stderr).to.equal(2);
        expect(stderr).to.include(args[0]);
      }
    });
  });
});
