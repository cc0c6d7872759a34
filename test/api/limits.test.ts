/**
 * Limits on what a client can make the daemon hold or do (black-box, real daemon): body size and depth,
 * header size, slow requests, the number of jobs, list sizes, strict ids and working directories; and what
 * every answer carries (no-store, no fingerprint, no CORS).
 */
import { expect } from 'chai';
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { configText, removeDir, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { rawRequest, type RawReply } from '../helpers/raw-request.js';

const MiB = 1024 * 1024;
const job = { schedule: '@yearly', command: 'true' };

function expectError(res: RawReply, status: number, code: string, says: string[] = []): void {
  expect(res.status, res.text.slice(0, 500)).to.equal(status);
  expect(Object.keys(res.body ?? {}), res.text.slice(0, 500)).to.deep.equal(['error']);
  expect(res.body.error.code).to.equal(code);
  for (const s of says) expect(res.body.error.message).to.include(s);
}

function json(method: string, path: string, body: unknown) {
  return { method, path, headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) };
}

describe('limits (black-box)', function () {
  this.timeout(60_000);
  let d: DaemonProcess;
  const seen: RawReply[] = [];

  async function send(req: Parameters<typeof rawRequest>[1]): Promise<RawReply> {
    const res = await rawRequest(d.url, req);
    seen.push(res);
    return res;
  }

  before(async function () {
    d = await startDaemon({
      config: configText('  cfg:\n    schedule: "@yearly"\n    command: "true"\n', '').replace('  kill_grace: 1s\n', '  kill_grace: 1s\n  max_jobs: 4\n'),
      // A raised header limit in the environment must not raise the daemon's.
      env: { NODE_OPTIONS: '--max-http-header-size=65536' },
    });
  });

  after(async function () {
    const exit = await d.stop();
    await removeDir(d.dir);
    expect(exit.code).to.equal(0);
  });

  describe('request bodies', function () {
    it('accepts a job body just under 1 MiB', async function () {
      const environment = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`BIG_${i}`, 'v'.repeat(65536)]));
      const body = JSON.stringify({ id: 'big-env', ...job, environment });
      expect(body.length).to.be.within(MiB - 100_000, MiB);
      const res = await send(json('POST', '/api/v1/jobs', body));
      expect(res.status, res.text.slice(0, 300)).to.equal(201);
      expect((await send({ method: 'DELETE', path: '/api/v1/jobs/big-env' })).status).to.equal(200);
    });

    it('answers 413 to a body over 1 MiB, declared or chunked, JSON or YAML', async function () {
      const big = JSON.stringify({ ...job, name: 'x'.repeat(MiB) });
      expectError(await send(json('POST', '/api/v1/jobs', big)), 413, 'BODY_TOO_LARGE', ['1 MiB']);
      expectError(await send({ ...json('POST', '/api/v1/jobs', big), chunked: true }), 413, 'BODY_TOO_LARGE');
      const yaml = `schedule: "@yearly"\ncommand: "true"\nname: ${'y'.repeat(MiB)}\n`;
      expectError(await send({ method: 'POST', path: '/api/v1/jobs', headers: { 'content-type': 'application/yaml' }, body: yaml, chunked: true }), 413, 'BODY_TOO_LARGE');
    });

    it('closes the connection after refusing a body it did not read, so the next request is not stuck behind it', async function () {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const big = JSON.stringify({ ...job, name: 'x'.repeat(2 * MiB) });
        const refused = await rawRequest(d.url, { ...json('POST', '/api/v1/jobs', big), chunked: true }, agent);
        expect(refused.status).to.equal(413);
        expect(refused.headers.connection).to.equal('close');
        const started = Date.now();
        expect((await rawRequest(d.url, { method: 'GET', path: '/health' }, agent)).status).to.equal(200);
        expect(Date.now() - started).to.be.below(1_000);
      } finally {
        agent.destroy();
      }
    });

    it('answers 400 to bodies nested deeper than 32 levels, however they nest', async function () {
      const deepArray = '['.repeat(100_000) + ']'.repeat(100_000);
      expectError(await send(json('POST', '/api/v1/jobs', deepArray)), 400, 'VALIDATION_FAILED', ['nested deeper than 32 levels']);
      const deepCommand = `{"schedule":"@yearly","command":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
      expectError(await send(json('POST', '/api/v1/jobs', deepCommand)), 400, 'VALIDATION_FAILED', ['nested deeper']);
      const deepObject = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
      expectError(await send(json('PUT', '/api/v1/jobs/cfg', deepObject)), 400, 'VALIDATION_FAILED', ['nested deeper']);
      const deepYaml = `schedule: "@yearly"\ncommand: ${'['.repeat(5_000)}${']'.repeat(5_000)}\n`;
      const yamlRes = await send({ method: 'POST', path: '/api/v1/jobs', headers: { 'content-type': 'text/yaml' }, body: deepYaml });
      expect(yamlRes.status, yamlRes.text).to.equal(400);
      expect(['INVALID_YAML', 'VALIDATION_FAILED']).to.include(yamlRes.body.error.code);
    });

    it('survives YAML nested 10,000 deep (the parser would recurse until V8 dies, not throws)', async function () {
      for (const body of ['{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000), '['.repeat(30_000) + ']'.repeat(30_000), '- '.repeat(20_000) + 'x', Array.from({ length: 2_000 }, (_, i) => `${' '.repeat(i)}a:`).join('\n').slice(0, 250_000)]) {
        const res = await send({ method: 'POST', path: '/api/v1/jobs', headers: { 'content-type': 'application/yaml' }, body });
        expectError(res, 400, 'VALIDATION_FAILED', ['nested deeper than 200 levels']);
      }
      expect((await send({ method: 'GET', path: '/health' })).status).to.equal(200);
    });

    it('limits YAML bodies to 256 KiB, and checks their keys in linear time', async function () {
      const big = `schedule: "@yearly"\ncommand: "true"\nname: ${'y'.repeat(300 * 1024)}\n`;
      expectError(await send({ method: 'POST', path: '/api/v1/jobs', headers: { 'content-type': 'application/yaml' }, body: big }), 413, 'BODY_TOO_LARGE', ['256 KiB']);
      // 25,000 keys: the YAML parser's own unique-key check is quadratic (about 10 s here).
      const keys = Array.from({ length: 25_000 }, (_, i) => `k${i}: 1`).join('\n');
      const started = Date.now();
      const res = await send({ method: 'POST', path: '/api/v1/jobs', headers: { 'content-type': 'application/yaml' }, body: `${keys}\nk7: 2\n` });
      // Linear: well under a second on an idle machine, a few seconds with the suite's other files beside it.
      expect(Date.now() - started).to.be.below(6_000);
      expectError(res, 400, 'INVALID_YAML', ['Map keys must be unique', '"k7"', 'line 25001']);
    });

    it('answers at most 100 details, however many fields are wrong', async function () {
      const body: Record<string, unknown> = { ...job };
      for (let i = 0; i < 4_000; i++) body[`bogus${i}`] = i;
      const res = await send(json('POST', '/api/v1/jobs', body));
      expectError(res, 400, 'VALIDATION_FAILED', ['bogus0: unknown field', '(and 3999 more)']);
      expect(res.body.error.details).to.have.length(100);
      expect(res.text.length).to.be.below(100_000);
    });

    it('answers a duration of 200,000 spaces at once (the pattern once took quadratic time)', async function () {
      const started = Date.now();
      for (const field of ['timeout', 'retry_delay', 'starting_deadline']) {
        expectError(await send(json('POST', '/api/v1/jobs', { ...job, [field]: `${' '.repeat(200_000)}x` })), 400, 'VALIDATION_FAILED', [field]);
      }
      expect(Date.now() - started).to.be.below(2_000);
    });

    it('answers 400 to a YAML alias bomb', async function () {
      const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...'bcdefgh'.split('').map((k, i) => `${k}: &${k} [${Array(10).fill(`*${'abcdefgh'[i]}`).join(', ')}]`)].join('\n');
      expectError(await send({ method: 'POST', path: '/api/v1/jobs', headers: { 'content-type': 'application/yaml' }, body: bomb }), 400, 'INVALID_YAML', ['alias']);
    });
  });

  describe('headers and slow clients', function () {
    it('answers 431 to headers over 16 KiB, even with NODE_OPTIONS raising the limit, and serves 12 KiB', async function () {
      const big = await rawRequest(d.url, { method: 'GET', path: '/health', headers: { 'x-filler': 'a'.repeat(20 * 1024) } });
      expect(big.status).to.equal(431);
      expect(JSON.parse(big.text)).to.deep.equal({ error: { code: 'HEADERS_TOO_LARGE', message: 'request line and headers are larger than 16 KiB' } });
      const longUrl = await rawRequest(d.url, { method: 'GET', path: `/${'p'.repeat(20 * 1024)}` });
      expect(longUrl.status).to.equal(431);
      expect(JSON.parse(longUrl.text).error.code).to.equal('HEADERS_TOO_LARGE');
      const fine = await rawRequest(d.url, { method: 'GET', path: '/health', headers: { 'x-filler': 'a'.repeat(12 * 1024) } });
      expect(fine.status).to.equal(200);
    });

    it('answers 408 and closes a connection whose headers do not arrive within 10 s', async function () {
      this.timeout(30_000);
      const { port } = new URL(d.url);
      const started = Date.now();
      const answer = await new Promise<{ text: string; ms: number }>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '));
        let text = '';
        socket.on('data', (c: Buffer) => (text += c.toString()));
        socket.on('close', () => resolve({ text, ms: Date.now() - started }));
        socket.on('error', reject);
      });
      expect(answer.text).to.match(/^HTTP\/1\.1 408 /);
      expect(answer.text).to.include('{"error":{"code":"REQUEST_TIMEOUT"');
      expect(answer.ms).to.be.within(9_000, 14_000);
    });
  });

  describe('the number of jobs (daemon.max_jobs)', function () {
    it('refuses to create a job past max_jobs with 409 TOO_MANY_JOBS, config jobs counted; room again after a delete', async function () {
      for (const id of ['j1', 'j2', 'j3']) {
        const res = await send(json('POST', '/api/v1/jobs', { id, ...job }));
        expect(res.status, res.text).to.equal(201);
      }
      const over = await send(json('POST', '/api/v1/jobs', { id: 'j4', ...job }));
      expectError(over, 409, 'TOO_MANY_JOBS', ['4 jobs', 'daemon.max_jobs: 4']);
      // An invalid body is still told what is wrong with it.
      expectError(await send(json('POST', '/api/v1/jobs', { ...job, retries: -1 })), 400, 'VALIDATION_FAILED');
      expect((await send({ method: 'DELETE', path: '/api/v1/jobs/j3' })).status).to.equal(200);
      expect((await send(json('POST', '/api/v1/jobs', { id: 'j4', ...job }))).status).to.equal(201);
      const list = await send({ method: 'GET', path: '/api/v1/jobs' });
      expect(list.body.data.map((j: { id: string }) => j.id)).to.deep.equal(['cfg', 'j1', 'j2', 'j4']);
      for (const id of ['j1', 'j2', 'j4']) expect((await send({ method: 'DELETE', path: `/api/v1/jobs/${id}` })).status).to.equal(200);
    });

    it('holds under concurrent creates: never more than max_jobs', async function () {
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => rawRequest(d.url, json('POST', '/api/v1/jobs', { id: `c${i}`, ...job }))),
      );
      const created = results.filter((r) => r.status === 201).length;
      expect(created).to.equal(3);
      for (const r of results.filter((x) => x.status !== 201)) expectError(r, 409, 'TOO_MANY_JOBS');
      const list = await send({ method: 'GET', path: '/api/v1/jobs' });
      expect(list.body.pagination.total).to.equal(4);
      for (const j of list.body.data as Array<{ id: string }>) if (j.id !== 'cfg') await send({ method: 'DELETE', path: `/api/v1/jobs/${j.id}` });
    });
  });

  describe('lists, ids and paths', function () {
    it('caps limit= at 1000 on every list', async function () {
      expect((await send({ method: 'GET', path: '/api/v1/jobs?limit=1000' })).status).to.equal(200);
      for (const path of ['/api/v1/jobs?limit=1001', '/api/v1/executions?limit=1001', '/api/v1/jobs/cfg/executions?limit=1001', '/api/v1/jobs?limit=0', '/api/v1/jobs?limit=1e3', '/api/v1/jobs?limit=1&limit=2']) {
        expectError(await send({ method: 'GET', path }), 400, 'VALIDATION_FAILED', ['limit']);
      }
      expectError(await send({ method: 'GET', path: '/api/v1/jobs/cfg/tail?n=100001' }), 400, 'VALIDATION_FAILED', ['n=']);
      expectError(await send({ method: 'GET', path: `/api/v1/jobs?q=${'q'.repeat(201)}` }), 400, 'VALIDATION_FAILED', ['q=']);
    });

    it('takes only strict ids: no slashes, no "..", no upper case, at most 63 characters', async function () {
      const ok = 'a'.repeat(63);
      expect((await send(json('POST', '/api/v1/jobs', { id: ok, ...job }))).status).to.equal(201);
      expect((await send({ method: 'DELETE', path: `/api/v1/jobs/${ok}` })).status).to.equal(200);
      for (const id of ['a'.repeat(64), 'a/b', '../etc', 'a..b', '.hidden', '-dash', 'UPPER', 'ü', 'a b', 'a\u0000b', '']) {
        expectError(await send(json('POST', '/api/v1/jobs', { id, ...job })), 400, 'VALIDATION_FAILED');
      }
      for (const path of ['/api/v1/jobs/..%2F..%2Fetc%2Fpasswd', '/api/v1/jobs/%2e%2e', '/api/v1/jobs/cfg%00', `/api/v1/jobs/${'a'.repeat(64)}`]) {
        expectError(await send({ method: 'GET', path }), 404, 'JOB_NOT_FOUND');
      }
      expectError(await send({ method: 'GET', path: '/api/v1/jobs/cfg/executions/..%2F..%2Fcfg' }), 404, 'EXECUTION_NOT_FOUND');
    });

    it('takes only an absolute working_directory that is an existing directory', async function () {
      expectError(await send(json('POST', '/api/v1/jobs', { ...job, working_directory: 'tmp' })), 400, 'VALIDATION_FAILED', ['absolute']);
      expectError(await send(json('POST', '/api/v1/jobs', { ...job, working_directory: '/nonexistent/dir' })), 400, 'VALIDATION_FAILED', ['does not exist']);
      expectError(await send(json('POST', '/api/v1/jobs', { ...job, working_directory: '/etc/hostname' })), 400, 'VALIDATION_FAILED', ['not a directory']);
      const res = await send(json('POST', '/api/v1/jobs', { id: 'in-tmp', ...job, working_directory: '/tmp' }));
      expect(res.status, res.text).to.equal(201);
      expect((await send({ method: 'DELETE', path: '/api/v1/jobs/in-tmp' })).status).to.equal(200);
    });
  });

  describe('what every answer carries', function () {
    it('Cache-Control: no-store; no Server, X-Powered-By or Access-Control-* headers', async function () {
      const more = await Promise.all([
        send({ method: 'GET', path: '/health' }),
        send({ method: 'GET', path: '/api/v1/jobs' }),
        send({ method: 'GET', path: '/nowhere' }),
        send({ method: 'PATCH', path: '/api/v1/jobs/cfg' }),
        send({ method: 'OPTIONS', path: '/api/v1/jobs' }),
        send({ method: 'GET', path: '/api/v1/jobs', headers: { origin: 'https://app.example' } }),
        send({ method: 'OPTIONS', path: '/api/v1/jobs', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' } }),
      ]);
      // A browser's preflight is refused like its request (and never carries an Access-Control-* header).
      expect(more.map((r) => r.status)).to.deep.equal([200, 200, 404, 405, 200, 403, 403]);
      expect(seen.length).to.be.above(40);
      for (const r of seen) {
        const names = Object.keys(r.headers);
        expect(r.headers['cache-control'], `${r.status} ${r.text.slice(0, 100)}`).to.equal('no-store');
        expect(names).not.to.include('server');
        expect(names).not.to.include('x-powered-by');
        expect(names.filter((n) => n.startsWith('access-control-'))).to.deep.equal([]);
      }
    });
  });
});
