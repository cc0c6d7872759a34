/**
 * Who may call the API (black-box, real daemon): bearer tokens and their scopes, /health left open, tokens
 * never echoed, requests from browsers refused, and the unix-socket listen mode.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  BIN,
  configText,
  removeDir,
  ROOT,
  startDaemon,
  tempDir,
  type DaemonProcess,
} from '../helpers/daemon-process.js';
import { rawRequest, type RawReply } from '../helpers/raw-request.js';

const ADMIN = 'adm-7f3c1e9b2d5a4f60-secret';
const READ = 'rd-1b2c3d4e5f607182-secret';

/** The documented error shape, and nothing else. */
function expectError(res: RawReply, status: number, code: string): void {
  expect(res.status, res.text).to.equal(status);
  expect(Object.keys(res.body ?? {}), res.text).to.deep.equal(['error']);
  expect(res.body.error.code).to.equal(code);
  expect(res.body.error.message).to.be.a('string');
}

describe('API tokens and scopes (black-box)', function () {
  this.timeout(60_000);
  let d: DaemonProcess;
  const replies: RawReply[] = [];

  async function call(method: string, path: string, token?: string | null, body?: unknown, headers: Record<string, string> = {}): Promise<RawReply> {
    const h: Record<string, string> = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await rawRequest(d.url, { method, path, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    replies.push(res);
    return res;
  }

  before(async function () {
    const dir = await tempDir();
    // The read token comes from a file, as Docker and systemd credentials are mounted; its newline is not part of it.
    await writeFile(join(dir, 'read-token'), `${READ}\n`, { mode: 0o600 });
    const tokens = [
      'api:',
      '  tokens:',
      '    - name: deploy-bot',
      '      token: ${WB_TEST_ADMIN_TOKEN}',
      '      scope: admin',
      '    - name: grafana',
      '      token: file:read-token',
      '      scope: read',
      '',
    ].join('\n');
    await writeFile(join(dir, 'watchbell.yaml'), configText('  cfg:\n    schedule: "@yearly"\n    command: "true"\n', tokens));
    d = await startDaemon({ dir, env: { WB_TEST_ADMIN_TOKEN: ADMIN } });
  });

  after(async function () {
    const exit = await d.stop();
    await removeDir(d.dir);
    expect(exit.code).to.equal(0);
  });

  it('leaves /health open', async function () {
    const res = await call('GET', '/health');
    expect(res.status).to.equal(200);
    expect(res.body.status).to.equal('UP');
  });

  it('puts OPTIONS /api/v1/* behind the token check too', async function () {
    expectError(await call('OPTIONS', '/api/v1/jobs'), 401, 'UNAUTHORIZED');
    const listed = await call('OPTIONS', '/api/v1/jobs', READ);
    expect(listed.status, listed.text).to.be.oneOf([200, 204]);
    expect(listed.headers.allow).to.include('GET');
  });

  it('answers 401 without a token, with WWW-Authenticate', async function () {
    const res = await call('GET', '/api/v1/jobs');
    expectError(res, 401, 'UNAUTHORIZED');
    expect(res.headers['www-authenticate']).to.equal('Bearer realm="watchbell"');
    expect(res.body.error.message).to.include('Authorization: Bearer');
  });

  it('answers 401 to another scheme and to a malformed header', async function () {
    for (const header of [`Basic ${Buffer.from(`x:${ADMIN}`).toString('base64')}`, 'Bearer', `Bearer ${ADMIN} extra`, ADMIN, `xBearer ${ADMIN}`]) {
      const res = await call('GET', '/api/v1/jobs', null, undefined, { authorization: header });
      expectError(res, 401, 'UNAUTHORIZED');
      expect(res.headers['www-authenticate']).to.match(/^Bearer realm="watchbell"/);
    }
  });

  it('answers 401 to a wrong token, a prefix of a right one, or a right one with more', async function () {
    for (const token of ['wrong-token-123', ADMIN.slice(0, -1), `${ADMIN}x`, READ.toUpperCase()]) {
      const res = await call('GET', '/api/v1/jobs', token);
      expectError(res, 401, 'UNAUTHORIZED');
      expect(res.headers['www-authenticate']).to.equal('Bearer realm="watchbell", error="invalid_token"');
      expect(res.text).not.to.include(token);
    }
  });

  it('lets a read token GET and HEAD (token from a file:, trailing newline removed)', async function () {
    expect((await call('GET', '/api/v1/jobs', READ)).status).to.equal(200);
    expect((await call('GET', '/api/v1/jobs/cfg', READ)).status).to.equal(200);
    expect((await call('GET', '/api/v1/executions', READ)).status).to.equal(200);
    expect((await call('GET', '/api/v1/schedule/next?schedule=@daily', READ)).status).to.equal(200);
    expect((await call('HEAD', '/api/v1/jobs/cfg', READ)).status).to.equal(200);
  });

  it('answers 403 to a read token on every write route, naming the token but not its secret', async function () {
    const writes: Array<[string, string, unknown?]> = [
      ['POST', '/api/v1/jobs', { schedule: '@yearly', command: 'true' }],
      ['PUT', '/api/v1/jobs/cfg', { retries: 1 }],
      ['DELETE', '/api/v1/jobs/cfg'],
      ['POST', '/api/v1/jobs/cfg/run'],
      ['POST', '/api/v1/jobs/cfg/pause'],
      ['POST', '/api/v1/jobs/cfg/resume'],
      ['POST', '/api/v1/jobs/cfg/executions/exec-00000000000000000000/cancel'],
    ];
    for (const [method, path, body] of writes) {
      const res = await call(method, path, READ, body);
      expectError(res, 403, 'FORBIDDEN');
      expect(res.body.error.message).to.include('"grafana"').and.include('scope "read"').and.include(method);
    }
    expect((await call('GET', '/api/v1/jobs', ADMIN)).body.data.map((j: { id: string }) => j.id)).to.deep.equal(['cfg']);
    expect((await call('GET', '/api/v1/jobs/cfg', ADMIN)).body.data.status).to.equal('active');
  });

  it('lets an admin token do everything', async function () {
    const created = await call('POST', '/api/v1/jobs', ADMIN, { id: 'by-admin', schedule: '@yearly', command: 'true' });
    expect(created.status, created.text).to.equal(201);
    expect((await call('PUT', '/api/v1/jobs/by-admin', ADMIN, { retries: 2 })).body.data.retries).to.equal(2);
    expect((await call('POST', '/api/v1/jobs/by-admin/pause', ADMIN)).status).to.equal(200);
    expect((await call('POST', '/api/v1/jobs/by-admin/resume', ADMIN)).status).to.equal(200);
    const run = await call('POST', '/api/v1/jobs/by-admin/run', ADMIN);
    expect(run.status, run.text).to.equal(202);
    await d.finished(run.body.data.execution_id);
    expect((await call('DELETE', '/api/v1/jobs/by-admin', ADMIN)).status).to.equal(200);
    expect((await call('GET', '/api/v1/jobs/by-admin', ADMIN)).status).to.equal(404);
  });

  it('serves no other spelling of an API path without a token: capitals, encoded letters, doubled slashes', async function () {
    // Paths are case-sensitive: /API/V1/JOBS is not the API (it once reached the routes past the token check).
    const spellings: Array<[string, string]> = [
      ['GET', '/API/V1/JOBS'],
      ['GET', '/Api/v1/jobs/cfg'],
      ['GET', '/api/V1/jobs/cfg'],
      ['POST', '/API/v1/jobs/cfg/run'],
      ['DELETE', '/api/v1/JOBS/cfg'],
      ['GET', '/api/v1/%6Aobs/cfg'],
      ['GET', '//api/v1/jobs/cfg'],
      ['GET', '/api%2Fv1/jobs/cfg'],
    ];
    for (const [method, path] of spellings) {
      const res = await call(method, path);
      expect([401, 404], `${method} ${path}: ${res.text}`).to.include(res.status);
    }
    // The trailing-slash spelling is the API: it needs the token like the plain one.
    expectError(await call('GET', '/api/v1/jobs/cfg/'), 401, 'UNAUTHORIZED');
    expect((await call('GET', '/api/v1/jobs/cfg/', READ)).body.data.id).to.equal('cfg');
    expect((await call('GET', '/api/v1/jobs/cfg', ADMIN)).body.data.status).to.equal('active');
  });

  it('takes the scheme in any case, and more than one space after it (RFC 7235: 1*SP)', async function () {
    expect((await call('GET', '/api/v1/jobs', null, undefined, { authorization: `bearer ${ADMIN}` })).status).to.equal(200);
    expect((await call('GET', '/api/v1/jobs', null, undefined, { authorization: `Bearer  ${ADMIN}` })).status).to.equal(200);
  });

  it('refuses requests from web pages (an Origin header), even with an admin token', async function () {
    const res = await call('POST', '/api/v1/jobs/cfg/run', ADMIN, undefined, { origin: 'https://evil.example' });
    expectError(res, 403, 'FORBIDDEN');
    expect(res.body.error.message).to.include('"https://evil.example"').and.include('CORS is off');
  });

  it('with tokens, answers whatever Host a proxy sends', async function () {
    expect((await call('GET', '/api/v1/jobs', ADMIN, undefined, { host: 'watchbell.internal.example:443' })).status).to.equal(200);
  });

  it('keeps tokens out of jobs\' environments, where a job printing it would show it to read tokens', async function () {
    const created = await call('POST', '/api/v1/jobs', ADMIN, { id: 'print-env', schedule: '@yearly', command: 'env; test -z "$WB_TEST_ADMIN_TOKEN"' });
    expect(created.status, created.text).to.equal(201);
    const run = await call('POST', '/api/v1/jobs/print-env/run', ADMIN);
    await d.finished(run.body.data.execution_id);
    const exec = await call('GET', `/api/v1/jobs/print-env/executions/${run.body.data.execution_id}`, READ);
    expect(exec.body.data.status).to.equal('success');
    const log = await call('GET', `/api/v1/jobs/print-env/executions/${run.body.data.execution_id}/log`, READ);
    expect(log.text).to.include('PATH=');
    expect(log.text).not.to.include(ADMIN);
    expect((await call('DELETE', '/api/v1/jobs/print-env', ADMIN)).status).to.equal(200);
  });

  it('never echoes a token: not in answers, not in the daemon log', async function () {
    const everything = [...replies.map((r) => r.text + JSON.stringify(r.headers)), ...d.lines.map((l) => JSON.stringify(l)), ...d.stderr].join('\n');
    expect(replies.length).to.be.above(20);
    expect(everything).not.to.include(ADMIN);
    expect(everything).not.to.include(READ);
    expect(everything).not.to.include(Buffer.from(`x:${ADMIN}`).toString('base64'));
  });
});

describe('without tokens: loopback only, and only for loopback names (black-box)', function () {
  this.timeout(60_000);
  let d: DaemonProcess;

  before(async function () {
    d = await startDaemon();
  });

  after(async function () {
    const exit = await d.stop();
    await removeDir(d.dir);
    expect(exit.code).to.equal(0);
  });

  it('answers requests addressed to 127.0.0.1, localhost and [::1]', async function () {
    const port = new URL(d.url).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'LOCALHOST', `[::1]:${port}`, '127.1.2.3', '127.0.0.53']) {
      const res = await rawRequest(d.url, { method: 'GET', path: '/api/v1/jobs', headers: { host } });
      expect(res.status, `${host}: ${res.text}`).to.equal(200);
    }
  });

  it('refuses other Host names (DNS rebinding), saying how to serve them', async function () {
    for (const host of ['evil.example', 'evil.example:8080', '127.0.0.1.evil.example', '10.0.0.1:8080', '', 'x.127.0.0.1', 'evil:127.0.0.1', '127.0.0.1:evil.example']) {
      const res = await rawRequest(d.url, { method: 'GET', path: '/api/v1/jobs', headers: { host } });
      expectError(res, 403, 'FORBIDDEN');
      expect(res.body.error.message).to.include('DNS rebinding').and.include('api.tokens');
    }
  });

  it('puts /health, /metrics and OPTIONS /api/v1/* behind the same Host and Origin checks', async function () {
    for (const path of ['/health', '/metrics', '/api/v1/jobs']) {
      const method = path.startsWith('/api') ? 'OPTIONS' : 'GET';
      const rebound = await rawRequest(d.url, { method, path, headers: { host: 'evil.example' } });
      expectError(rebound, 403, 'FORBIDDEN');
      expect(rebound.body.error.message).to.include('DNS rebinding');
      expectError(await rawRequest(d.url, { method, path, headers: { origin: 'https://evil.example' } }), 403, 'FORBIDDEN');
      expect((await rawRequest(d.url, { method, path })).status, path).to.be.oneOf([200, 204]);
    }
  });

  it('refuses a cross-site POST of the kind a web page can send without a CORS preflight', async function () {
    const res = await rawRequest(d.url, {
      method: 'POST',
      path: '/api/v1/jobs',
      headers: { origin: 'null', 'content-type': 'text/plain' },
      body: '{"schedule":"@yearly","command":"true"}',
    });
    expectError(res, 403, 'FORBIDDEN');
    expect((await rawRequest(d.url, { method: 'GET', path: '/api/v1/jobs' })).body.data).to.deep.equal([]);
  });
});

describe('bind policy (black-box)', function () {
  this.timeout(60_000);
  const dirs: string[] = [];

  after(async function () {
    for (const dir of dirs) await removeDir(dir);
  });

  /** Runs a CLI verb and resolves with its exit code and output. */
  function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const p = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      p.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('--listen unix:/path: a socket with mode 0660 that speaks HTTP, and the client verbs work over it', async function () {
    const dir = await tempDir();
    dirs.push(dir);
    const socket = join(dir, 'api.sock');
    const d = await startDaemon({ dir, config: configText('  nightly:\n    schedule: "@yearly"\n    command: "true"\n'), args: ['--listen', `unix:${socket}`] });
    try {
      expect(d.url).to.equal(`unix:${socket}`);
      const st = await stat(socket);
      expect(st.isSocket()).to.equal(true);
      expect((st.mode & 0o777).toString(8)).to.equal('660');

      const health = await rawRequest(d.url, { method: 'GET', path: '/health' });
      expect(health.status).to.equal(200);
      expect(health.body.status).to.equal('UP');
      const jobs = await rawRequest(d.url, { method: 'GET', path: '/api/v1/jobs' });
      expect(jobs.body.data.map((j: { id: string }) => j.id)).to.deep.equal(['nightly']);
      // No browser reaches a unix socket: any Host is answered (curl --unix-socket sends the URL's).
      expect((await rawRequest(d.url, { method: 'GET', path: '/api/v1/jobs', headers: { host: 'x' } })).status).to.equal(200);

      const list = await cli(['jobs', '--url', `unix:${socket}`]);
      expect(list.code, list.stderr).to.equal(0);
      expect(list.stdout).to.match(/^ID\s+STATUS/).and.match(/\nnightly\s+active\s+@yearly/);
      const run = await cli(['run', 'nightly', '--url', `unix:${socket}`]);
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout).to.match(/^Job triggered successfully \(execution exec-/);
      const pause = await cli(['pause', 'nightly', '--url', `unix:${socket}`]);
      expect(pause.code, pause.stderr).to.equal(0);
    } finally {
      expect((await d.stop()).code).to.equal(0);
    }
    // The socket goes with the daemon.
    expect(existsSync(socket)).to.equal(false);
  });

  it('replaces a stale socket, but never deletes a file that is not one', async function () {
    const dir = await tempDir();
    dirs.push(dir);
    // A process killed with SIGKILL leaves its socket file behind.
    const stale = join(dir, 'stale.sock');
    const holder = spawn(process.execPath, ['-e', 'require("net").createServer().listen(process.argv[1], () => console.log("up"))', stale], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    expect((await stat(stale)).isSocket()).to.equal(true);
    const d = await startDaemon({ dir, config: configText('  {}\n'), args: ['--listen', `unix:${stale}`] });
    expect((await rawRequest(d.url, { method: 'GET', path: '/health' })).status).to.equal(200);
    expect((await d.stop()).code).to.equal(0);

    const notSocket = join(dir, 'precious.txt');
    await writeFile(notSocket, 'keep me');
    await writeFile(join(dir, 'watchbell.yaml'), configText('  {}\n'));
    const refused = await cli(['daemon', '--config', join(dir, 'watchbell.yaml'), '--listen', `unix:${notSocket}`]);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.include(`${notSocket} exists and is not a socket`);
    expect(await readFile(notSocket, 'utf8')).to.equal('keep me');
  });

  it('refuses a socket that another process listens on, and leaves it working', async function () {
    const dir = await tempDir();
    dirs.push(dir);
    const live = join(dir, 'live.sock');
    const holder = spawn(process.execPath, ['-e', 'require("net").createServer((c) => c.on("error", () => {}).end("still here")).listen(process.argv[1], () => console.log("up"))', live], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((resolve) => holder.stdout.once('data', resolve));
      await writeFile(join(dir, 'watchbell.yaml'), configText('  {}\n'));
      const refused = await cli(['daemon', '--config', join(dir, 'watchbell.yaml'), '--listen', `unix:${live}`]);
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.include(`unix:${live}: a process is listening on ${live}`);
      const answer = await new Promise<string>((resolve, reject) => {
        const c = connect(live);
        let text = '';
        c.on('data', (b) => (text += String(b))).on('end', () => resolve(text)).on('error', reject);
      });
      expect(answer).to.equal('still here');
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('listens beyond loopback once a token is configured', async function () {
    const dir = await tempDir();
    dirs.push(dir);
    const config = configText('  {}\n', 'api:\n  tokens:\n    - { name: ops, token: "0123456789abcdef-token", scope: admin }\n');
    const d = await startDaemon({ dir, config, args: ['--listen', '0.0.0.0:0'] });
    try {
      expect(d.url).to.match(/^http:\/\/0\.0\.0\.0:\d+$/);
      const port = new URL(d.url).port;
      const url = `http://127.0.0.1:${port}`;
      expect((await rawRequest(url, { method: 'GET', path: '/api/v1/jobs' })).status).to.equal(401);
      expect((await rawRequest(url, { method: 'GET', path: '/api/v1/jobs', headers: { authorization: 'Bearer 0123456789abcdef-token' } })).status).to.equal(200);
    } finally {
      expect((await d.stop()).code).to.equal(0);
    }
  });
});
