/** Black-box: the real daemon over real HTTP, the job routes of DESIGN.md §4 with their exact shapes. */
import { expect } from 'chai';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { removeDir, startWithJobs, type DaemonProcess } from '../helpers/daemon-process.js';
import { rawRequest, type RawReply } from '../helpers/raw-request.js';
import { readPids } from '../run/helpers.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

describe('jobs API (black-box)', function () {
  let d: DaemonProcess;
  let workDir: string;

  before(async function () {
    d = await startWithJobs(`
  nightly-report:
    schedule: "0 6 * * *"
    command: echo report
    tags: [report]
`);
    workDir = join(d.dir, 'backups');
    await mkdir(workDir);
  });

  after(async function () {
    const exit = await d.stop();
    await removeDir(d.dir);
    expect(exit.code).to.equal(0);
  });

  it('creates the classic Chadburn example verbatim and masks its environment', async function () {
    const body = {
      name: 'backup-database',
      schedule: '0 0 * * *',
      command: 'pg_dump -U postgres mydb > /backups/mydb.sql',
      tags: ['backup', 'database'],
      timeout: 3600,
      retries: 3,
      retry_delay: 300,
      environment: { PGPASSWORD: 'secret' },
      // The example's /opt/backups must exist here too; a temp dir stands in for it.
      working_directory: workDir,
    };
    const res = await d.api('POST', '/api/v1/jobs', body);
    expect(res.status).to.equal(201);
    const job = res.body.data;
    expect(job.id).to.match(/^job-[0-9a-z]{10}$/);
    expect(res.headers.get('location')).to.equal(`/api/v1/jobs/${job.id}`);
    expect(job).to.include({ name: 'backup-database', schedule: '0 0 * * *', status: 'active', timeout: 3600, retries: 3, retry_delay: 300, working_directory: workDir, source: 'api' });
    expect(job.tags).to.deep.equal(['backup', 'database']);
    expect(job.environment).to.deep.equal({ PGPASSWORD: '******' });
    expect(job.created_at).to.match(RFC3339);
    expect(job.next_run).to.match(/T00:00:00(\.000)?Z$/);
    expect(res.text).not.to.include('secret');

    const got = await d.api('GET', `/api/v1/jobs/${job.id}`);
    expect(got.status).to.equal(200);
    expect(got.body.data.environment).to.deep.equal({ PGPASSWORD: '******' });
    expect(got.body.data.last_run).to.equal(null);

    // The Chadburn update example: status paused, next_run null.
    const put = await d.api('PUT', `/api/v1/jobs/${job.id}`, {
      name: 'backup-database-daily',
      schedule: '0 0 * * *',
      command: 'pg_dump -U postgres mydb > /backups/mydb-$(date +%Y%m%d).sql',
      status: 'paused',
      tags: ['backup', 'database', 'daily'],
      timeout: 7200,
    });
    expect(put.status).to.equal(200);
    expect(put.body.data).to.include({ name: 'backup-database-daily', status: 'paused', timeout: 7200, retries: 3, retry_delay: 300, next_run: null });
    expect(put.body.data.environment).to.deep.equal({ PGPASSWORD: '******' });

    const del = await d.api('DELETE', `/api/v1/jobs/${job.id}`);
    expect(del.status).to.equal(200);
    expect(del.body.data.message).to.equal('Job deleted successfully');
    expect((await d.api('GET', `/api/v1/jobs/${job.id}`)).status).to.equal(404);
  });

  it('accepts a YAML body with a given id, durations as strings, and answers them in seconds', async function () {
    const yaml = 'id: yaml-job\nschedule: "@every 90s"\ncommand: [echo, hi]\ntimeout: 1h30m\nretry_delay: 5m\n';
    const res = await d.api('POST', '/api/v1/jobs', yaml, { 'content-type': 'application/yaml' });
    expect(res.status, res.text).to.equal(201);
    expect(res.body.data).to.include({ id: 'yaml-job', name: 'yaml-job', timeout: 5400, retry_delay: 300 });
    expect(res.body.data.command).to.deep.equal(['echo', 'hi']);
    const text = await d.api('POST', '/api/v1/jobs', 'id: yaml-job-2\nschedule: "@hourly"\ncommand: "true"\n', { 'content-type': 'text/yaml' });
    expect(text.status).to.equal(201);
    const dup = await d.api('POST', '/api/v1/jobs', { id: 'yaml-job', schedule: '@daily', command: 'true' });
    expect(dup.status).to.equal(409);
    expect(dup.body.error.code).to.equal('JOB_EXISTS');
  });

  it('lists with status, tag and q filters and pagination', async function () {
    for (const i of [1, 2, 3]) {
      const r = await d.api('POST', '/api/v1/jobs', { id: `list-${i}`, schedule: '@daily', command: `echo list ${i}`, tags: i === 2 ? ['special'] : [] });
      expect(r.status).to.equal(201);
    }
    await d.api('POST', '/api/v1/jobs/list-3/pause');
    const all = await d.api('GET', '/api/v1/jobs?limit=2&offset=1');
    expect(all.status).to.equal(200);
    expect(all.body.data).to.have.length(2);
    expect(all.body.pagination).to.deep.equal({ total: all.body.pagination.total, limit: 2, offset: 1 });
    expect(all.body.pagination.total).to.be.greaterThan(4);
    const tagged = await d.api('GET', '/api/v1/jobs?tag=special');
    expect(tagged.body.data.map((j: { id: string }) => j.id)).to.deep.equal(['list-2']);
    const paused = await d.api('GET', '/api/v1/jobs?status=paused');
    expect(paused.body.data.map((j: { id: string }) => j.id)).to.include('list-3');
    expect(paused.body.data.every((j: { status: string; next_run: unknown }) => j.status === 'paused' && j.next_run === null)).to.equal(true);
    const q = await d.api('GET', '/api/v1/jobs?q=list%202');
    expect(q.body.data.map((j: { id: string }) => j.id)).to.deep.equal(['list-2']);
    const byTag = await d.api('GET', '/api/v1/jobs?q=repo');
    expect(byTag.body.data.map((j: { id: string }) => j.id)).to.deep.equal(['nightly-report']);
  });

  it('pauses and resumes with the documented messages', async function () {
    await d.api('POST', '/api/v1/jobs', { id: 'pausable', schedule: '*/5 * * * *', command: 'true' });
    const p = await d.api('POST', '/api/v1/jobs/pausable/pause');
    expect(p.status).to.equal(200);
    expect(p.body.data).to.deep.equal({ message: 'Job paused successfully', id: 'pausable', status: 'paused' });
    expect((await d.api('GET', '/api/v1/jobs/pausable')).body.data.next_run).to.equal(null);
    const r = await d.api('POST', '/api/v1/jobs/pausable/resume');
    expect(r.status).to.equal(200);
    expect(r.body.data).to.include({ message: 'Job resumed successfully', id: 'pausable', status: 'active' });
    expect(r.body.data.next_run).to.match(/:[0-5][05]:00(\.000)?Z$/);
  });

  it('runs a job now and records the execution, its output and its log', async function () {
    await d.api('POST', '/api/v1/jobs', { id: 'runner', schedule: '@yearly', command: 'echo out-line; echo err-line >&2; exit 3' });
    const run = await d.api('POST', '/api/v1/jobs/runner/run');
    expect(run.status).to.equal(202);
    expect(run.body.data.message).to.equal('Job triggered successfully');
    const eid = run.body.data.execution_id as string;
    expect(eid).to.match(/^exec-[0-9a-z]{20}$/);
    await d.finished(eid);

    const e = (await d.api('GET', `/api/v1/jobs/runner/executions/${eid}`)).body.data;
    expect(e).to.include({ id: eid, job_id: 'runner', status: 'failure', trigger: 'manual', scheduled_at: null, exit_code: 3, signal: null, reason: 'exit', error: 'exited with code 3', retry_count: 0 });
    expect(e.output).to.include('out-line').and.include('err-line');
    expect(e.duration).to.be.a('number').and.at.least(0);
    expect(e.attempts).to.have.length(1);
    expect(e.log_route).to.equal(`/api/v1/jobs/runner/executions/${eid}/log`);

    const list = await d.api('GET', '/api/v1/jobs/runner/executions?status=failure');
    expect(list.body.data.map((x: { id: string }) => x.id)).to.deep.equal([eid]);
    expect(list.body.pagination).to.deep.equal({ total: 1, limit: 10, offset: 0 });
    expect((await d.api('GET', '/api/v1/jobs/runner/executions?status=success')).body.data).to.deep.equal([]);

    const log = await d.api('GET', e.log_route);
    expect(log.headers.get('content-type')).to.match(/^text\/plain/);
    expect(log.text).to.include('out-line').and.include('err-line');
    expect((await d.api('GET', `${e.log_route}?stream=stderr`)).text).to.equal('err-line\n');
    expect((await d.api('GET', `${e.log_route}?stream=stdout`)).text).to.equal('out-line\n');
    expect((await d.api('GET', '/api/v1/jobs/runner/tail?n=1')).text.trim()).to.be.oneOf(['out-line', 'err-line']);

    const job = (await d.api('GET', '/api/v1/jobs/runner')).body.data;
    expect(job.last_run.id).to.equal(eid);

    const across = await d.api('GET', '/api/v1/executions?limit=50');
    expect(across.body.data.map((x: { id: string }) => x.id)).to.include(eid);
  });

  it('answers GET /jobs/{id} afresh after every change: a run, a pause, a resume, an update', async function () {
    const created = await d.api('POST', '/api/v1/jobs', { id: 'fresh', schedule: '0 3 * * *', command: 'echo fresh' });
    expect(created.status, created.text).to.equal(201);
    const get = async () => (await d.api('GET', '/api/v1/jobs/fresh')).body.data;
    expect((await get()).last_run).to.equal(null);
    const eid = (await d.api('POST', '/api/v1/jobs/fresh/run')).body.data.execution_id as string;
    await d.finished(eid);
    expect((await get()).last_run).to.include({ id: eid, status: 'success' });
    await d.api('POST', '/api/v1/jobs/fresh/pause');
    expect(await get()).to.include({ status: 'paused', next_run: null });
    await d.api('POST', '/api/v1/jobs/fresh/resume');
    const resumed = await get();
    expect(resumed.status).to.equal('active');
    expect(resumed.next_run).to.be.a('string');
    await d.api('PUT', '/api/v1/jobs/fresh', { schedule: '0 4 * * *', command: 'echo changed' });
    expect(await get()).to.include({ command: 'echo changed', schedule: '0 4 * * *' });
    await d.api('DELETE', '/api/v1/jobs/fresh');
    expect((await d.api('GET', '/api/v1/jobs/fresh')).status).to.equal(404);
  });

  it('retries inside one execution and stops an attempt at its timeout', async function () {
    const counter = join(d.dir, 'count');
    await d.api('POST', '/api/v1/jobs', {
      id: 'flaky', schedule: '@yearly', retries: 2, retry_delay: 0,
      command: `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; [ $n -ge 3 ]`,
    });
    const eid = (await d.api('POST', '/api/v1/jobs/flaky/run')).body.data.execution_id;
    await d.finished(eid);
    const e = (await d.api('GET', `/api/v1/jobs/flaky/executions/${eid}`)).body.data;
    expect(e).to.include({ status: 'success', retry_count: 2, exit_code: 0 });
    expect(e.attempts.map((a: { exit_code: number }) => a.exit_code)).to.deep.equal([1, 1, 0]);

    await d.api('POST', '/api/v1/jobs', { id: 'slow', schedule: '@yearly', timeout: 1, command: 'sleep 30' });
    const started = Date.now();
    const sid = (await d.api('POST', '/api/v1/jobs/slow/run')).body.data.execution_id;
    await d.finished(sid);
    expect(Date.now() - started).to.be.below(10_000);
    const s = (await d.api('GET', `/api/v1/jobs/slow/executions/${sid}`)).body.data;
    expect(s).to.include({ status: 'failure', reason: 'timeout', error: 'timed out after 1s', exit_code: null });
  });

  it('refuses a second run-now of a forbid job that is running, and cancels', async function () {
    await d.api('POST', '/api/v1/jobs', { id: 'long', schedule: '@yearly', command: 'sleep 30' });
    const first = await d.api('POST', '/api/v1/jobs/long/run');
    expect(first.status).to.equal(202);
    const second = await d.api('POST', '/api/v1/jobs/long/run');
    expect(second.status).to.equal(409);
    expect(second.body.error.code).to.equal('JOB_ALREADY_RUNNING');
    const eid = first.body.data.execution_id;
    const running = await d.api('GET', '/api/v1/executions?status=in_progress');
    expect(running.body.data.map((x: { id: string }) => x.id)).to.include(eid);
    const cancel = await d.api('POST', `/api/v1/jobs/long/executions/${eid}/cancel`);
    expect(cancel.status).to.equal(202);
    const e = (await d.api('GET', `/api/v1/jobs/long/executions/${eid}`)).body.data;
    expect(e).to.include({ status: 'cancelled', reason: 'cancelled' });
    const again = await d.api('POST', `/api/v1/jobs/long/executions/${eid}/cancel`);
    expect(again.status).to.equal(409);
    expect(again.body.error.code).to.equal('EXECUTION_FINISHED');
  });

  it('deletes a job with a running execution: cancels it first, stops its processes, removes its history', async function () {
    const pidFile = join(d.dir, 'doomed.pid');
    await d.api('POST', '/api/v1/jobs', { id: 'doomed', schedule: '@yearly', command: `echo $$ > ${pidFile}; exec sleep 60` });
    const eid = (await d.api('POST', '/api/v1/jobs/doomed/run')).body.data.execution_id;
    await d.waitFor((l) => l.event === 'execution.started' && l.execution_id === eid);
    // Started is not enough: the shell may not have written its pid yet, and an empty file reads as pid 0,
    // which process.kill(0, 0) takes for this test's own process group.
    const [pid] = await readPids(pidFile, 1);
    expect(pid).to.be.greaterThan(1);
    const del = await d.api('DELETE', '/api/v1/jobs/doomed');
    expect(del.status).to.equal(200);
    const finished = await d.finished(eid);
    expect(finished.status).to.equal('cancelled');
    expect(() => process.kill(pid!, 0), `process ${pid} is still alive`).to.throw();
    expect((await d.api('GET', `/api/v1/jobs/doomed/executions/${eid}`)).status).to.equal(404);
    expect((await d.api('GET', '/api/v1/executions?status=in_progress')).body.data.map((e: { id: string }) => e.id)).not.to.include(eid);
  });

  it('answers 409 naming the file for PUT and DELETE of a config job, but runs and pauses it', async function () {
    const put = await d.api('PUT', '/api/v1/jobs/nightly-report', { timeout: 5 });
    expect(put.status).to.equal(409);
    expect(put.body.error.code).to.equal('JOB_OWNED_BY_CONFIG');
    expect(put.body.error.message).to.include(d.configFile);
    const del = await d.api('DELETE', '/api/v1/jobs/nightly-report');
    expect(del.status).to.equal(409);
    expect(del.body.error.message).to.include(d.configFile);
    expect((await d.api('POST', '/api/v1/jobs/nightly-report/pause')).status).to.equal(200);
    const run = await d.api('POST', '/api/v1/jobs/nightly-report/run');
    expect(run.status).to.equal(202);
    await d.finished(run.body.data.execution_id);
    expect((await d.api('POST', '/api/v1/jobs/nightly-report/resume')).status).to.equal(200);
  });

  it('previews schedules with the same computation that fires jobs', async function () {
    const res = await d.api('GET', '/api/v1/schedule/next?schedule=' + encodeURIComponent('30 2 * * *') + '&timezone=Europe/Berlin&n=3');
    expect(res.status).to.equal(200);
    expect(res.body.data.next_runs).to.have.length(3);
    for (const t of res.body.data.next_runs) expect(t).to.match(/T0[01]:30:00(\.000)?Z$/);
    const job = await d.api('POST', '/api/v1/jobs', { id: 'preview-match', schedule: '30 2 * * *', timezone: 'Europe/Berlin', command: 'true' });
    expect(job.body.data.next_run).to.equal(res.body.data.next_runs[0]);
  });

  it('reports health', async function () {
    const res = await d.api('GET', '/health');
    expect(res.status).to.equal(200);
    expect(res.body.status).to.equal('UP');
    expect(res.body.jobs.total).to.be.greaterThan(0);
    expect(res.headers.get('cache-control')).to.equal('no-store');
  });

  // GET /jobs/{id} in its plain spelling skips the router (jobReadShortcut); any other spelling goes through it.
  it('answers GET and HEAD /jobs/{id} the same in the spelling that skips the router and in those that do not', async function () {
    const get = (path: string, method = 'GET', headers: Record<string, string> = {}) => rawRequest(d.url, { method, path, headers });
    const same = (a: RawReply, b: RawReply) => {
      expect(b.status, b.text).to.equal(a.status);
      expect(b.text).to.equal(a.text);
      for (const h of ['content-type', 'content-length', 'cache-control', 'x-content-type-options']) expect(b.headers[h], h).to.equal(a.headers[h]);
    };
    const plain = await get('/api/v1/jobs/nightly-report');
    expect(plain.status).to.equal(200);
    expect(plain.body.data.id).to.equal('nightly-report');
    same(plain, await get('/api/v1/jobs/nightly-report/'));
    // Escapes are decoded alike; a malformed one is kept as it is, and names no job.
    same(plain, await get('/api/v1/jobs/nightly%2Dreport'));
    const malformed = await get('/api/v1/jobs/nightly%E0%A4%A');
    expect(malformed.status).to.equal(404);
    expect(malformed.body.error.code).to.equal('JOB_NOT_FOUND');
    same(malformed, await get('/api/v1/jobs/nightly%E0%A4%A/'));
    same(await get('/api/v1/jobs/no-such-job'), await get('/api/v1/jobs/no-such-job/'));
    const head = await get('/api/v1/jobs/nightly-report', 'HEAD');
    expect(head.status).to.equal(200);
    expect(head.text).to.equal('');
    expect(head.headers['content-length']).to.equal(plain.headers['content-length']);
    same(head, await get('/api/v1/jobs/nightly-report/', 'HEAD'));
    // The guards still run first: a page's request is refused before any job is read.
    const fromPage = await get('/api/v1/jobs/nightly-report', 'GET', { origin: 'https://evil.example' });
    expect(fromPage.status).to.equal(403);
    same(fromPage, await get('/api/v1/jobs/nightly-report/', 'GET', { origin: 'https://evil.example' }));
  });
});
