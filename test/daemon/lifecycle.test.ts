/** Black-box: the daemon process starting, firing, stopping and restarting on the same data dir. */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BIN, configText, removeDir, startDaemon, startWithJobs, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';

/** Runs `watchbell daemon` expecting it to refuse to start; resolves with its exit code and stderr. */
function refusedStart(configFile: string, args: string[] = []): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, 'daemon', '--config', configFile, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('daemon lifecycle (black-box)', function () {
  const cleanup: string[] = [];
  after(async function () {
    for (const dir of cleanup) await removeDir(dir);
  });

  it('fires a 6-field job every second, at whole seconds, with trigger schedule', async function () {
    const d = await startWithJobs('  tick:\n    schedule: "* * * * * *"\n    command: echo tick\n');
    cleanup.push(d.dir);
    const first = await d.waitFor((l) => l.event === 'execution.finished' && l.job_id === 'tick');
    const second = await d.waitFor((l) => l.event === 'execution.finished' && l.job_id === 'tick' && l.execution_id !== first.execution_id);
    const e = (await d.api('GET', `/api/v1/jobs/tick/executions/${second.execution_id}`)).body.data;
    expect(e.trigger).to.equal('schedule');
    expect(e.status).to.equal('success');
    expect(e.scheduled_at).to.match(/:\d\d(\.000)?Z$/);
    expect(Date.parse(e.started_at) - Date.parse(e.scheduled_at)).to.be.within(0, 2000);
    expect((await d.stop()).code).to.equal(0);
  });

  it('runs a one-shot job at its instant, then marks it completed', async function () {
    const d = await startWithJobs('  {}\n');
    cleanup.push(d.dir);
    // After the start: a loaded machine may take longer than the lead to start the daemon.
    const at = new Date(Math.ceil((Date.now() + 2000) / 1000) * 1000).toISOString();
    const created = await d.api('POST', '/api/v1/jobs', { id: 'once', schedule: at, command: 'echo once' });
    expect(created.status, created.text).to.equal(201);
    expect(created.body.data.next_run).to.equal(at);
    const done = await d.waitFor((l) => l.event === 'execution.finished' && l.job_id === 'once');
    expect(done.status).to.equal('success');
    const job = (await d.api('GET', '/api/v1/jobs/once')).body.data;
    expect(job.status).to.equal('completed');
    expect(job.next_run).to.equal(null);
    expect(job.last_run.scheduled_at).to.equal(at);
    expect((await d.api('GET', '/api/v1/jobs?status=completed')).body.data.map((j: { id: string }) => j.id)).to.deep.equal(['once']);
    expect((await d.stop()).code).to.equal(0);
  });

  it('keeps API jobs, executions and the pause of a config job across a SIGTERM and restart', async function () {
    const d = await startWithJobs('  from-config:\n    schedule: "0 0 * * *"\n    command: "true"\n');
    cleanup.push(d.dir);
    await d.api('POST', '/api/v1/jobs', { id: 'from-api', schedule: '@hourly', command: 'echo kept', environment: { TOKEN: 's3cret' } });
    await d.api('POST', '/api/v1/jobs/from-config/pause');
    const eid = (await d.api('POST', '/api/v1/jobs/from-api/run')).body.data.execution_id;
    await d.finished(eid);
    const stopped = await d.stop('SIGTERM');
    expect(stopped.code).to.equal(0);
    // The store is intact, plain JSON.
    const apiJobs = JSON.parse(await readFile(join(d.dataDir, 'api-jobs.json'), 'utf8'));
    expect(JSON.stringify(apiJobs)).to.include('from-api');

    const again = await startDaemon({ dir: d.dir });
    const job = (await again.api('GET', '/api/v1/jobs/from-api')).body.data;
    expect(job).to.include({ id: 'from-api', source: 'api', status: 'active' });
    expect(job.environment).to.deep.equal({ TOKEN: '******' });
    expect(job.last_run.id).to.equal(eid);
    expect((await again.api('GET', '/api/v1/jobs/from-config')).body.data).to.include({ status: 'paused', next_run: null });
    const ex = await again.api('GET', `/api/v1/jobs/from-api/executions/${eid}`);
    expect(ex.body.data.output).to.equal('kept\n');
    // The secret reaches the command, never the API.
    const eid2 = (await again.api('POST', '/api/v1/jobs/from-api/run')).body.data.execution_id;
    await again.finished(eid2);
    expect((await again.stop()).code).to.equal(0);
  });

  it('refuses a second daemon on the same data dir with a clear message', async function () {
    const d = await startWithJobs('  {}\n');
    cleanup.push(d.dir);
    const other = join(d.dir, 'other.yaml');
    await writeFile(other, configText('  {}\n'));
    const second = await refusedStart(other);
    expect(second.code).to.equal(1);
    expect(second.stderr).to.include('in use by another watchbell').and.include(String(d.proc.pid));
    expect((await d.stop()).code).to.equal(0);
  });

  it('marks an execution that a SIGKILLed daemon left running as failure/interrupted', async function () {
    const dir = await tempDir();
    cleanup.push(dir);
    const pidFile = join(dir, 'job.pid');
    const d = await startDaemon({ dir, config: configText(`  stuck:\n    schedule: "@yearly"\n    command: echo $$$$ > ${pidFile}; exec sleep 20\n`) });
    const eid = (await d.api('POST', '/api/v1/jobs/stuck/run')).body.data.execution_id;
    await d.waitFor((l) => l.event === 'execution.started' && l.execution_id === eid);
    expect((await d.stop('SIGKILL')).signal).to.equal('SIGKILL');
    const orphan = Number(await readFile(pidFile, 'utf8').catch(() => '0'));

    const again = await startDaemon({ dir });
    try {
      const e = (await again.api('GET', `/api/v1/jobs/stuck/executions/${eid}`)).body.data;
      expect(e).to.include({ status: 'failure', reason: 'interrupted' });
      expect(e.finished_at).to.be.a('string');
      expect((await again.api('GET', '/api/v1/executions?status=in_progress')).body.data).to.deep.equal([]);
    } finally {
      if (orphan) {
        try {
          process.kill(orphan, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      await again.stop();
    }
  });

  it('on SIGTERM lets a short run finish and records a long one as cancelled, then exits 0', async function () {
    const dir = await tempDir();
    cleanup.push(dir);
    const config = configText('  short:\n    schedule: "@yearly"\n    command: sleep 1; echo done\n  long:\n    schedule: "@yearly"\n    command: sleep 60\n')
      .replace('shutdown_grace: 5s', 'shutdown_grace: 2s');
    const d = await startDaemon({ dir, config });
    const short = (await d.api('POST', '/api/v1/jobs/short/run')).body.data.execution_id;
    const long = (await d.api('POST', '/api/v1/jobs/long/run')).body.data.execution_id;
    await d.waitFor((l) => l.event === 'execution.started' && l.execution_id === long);
    const t0 = Date.now();
    const exit = await d.stop('SIGTERM');
    expect(exit.code).to.equal(0);
    expect(Date.now() - t0).to.be.below(10_000);

    const again = await startDaemon({ dir });
    const s = (await again.api('GET', `/api/v1/jobs/short/executions/${short}`)).body.data;
    const l = (await again.api('GET', `/api/v1/jobs/long/executions/${long}`)).body.data;
    expect(s.status).to.equal('success');
    expect(l).to.include({ status: 'cancelled', reason: 'cancelled' });
    await again.stop();
  });

  it('trims history to history_limit, oldest first', async function () {
    const d = await startWithJobs('  {}\n');
    cleanup.push(d.dir);
    await d.api('POST', '/api/v1/jobs', { id: 'trimmed', schedule: '@yearly', command: 'true', history_limit: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const eid = (await d.api('POST', '/api/v1/jobs/trimmed/run')).body.data.execution_id;
      await d.finished(eid);
      ids.push(eid);
    }
    const list = await d.api('GET', '/api/v1/jobs/trimmed/executions');
    expect(list.body.data.map((e: { id: string }) => e.id)).to.deep.equal([ids[3], ids[2]]);
    expect(list.body.pagination.total).to.equal(2);
    expect((await d.api('GET', `/api/v1/jobs/trimmed/executions/${ids[0]}`)).status).to.equal(404);
    await d.stop();
  });

  it('refuses to start on an invalid config, printing FILE:LINE:COL', async function () {
    const dir = await tempDir();
    cleanup.push(dir);
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'version: 1\njobs:\n  x:\n    schedule: "*/0 * * * *"\n    command: "true"\n');
    const r = await refusedStart(file);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include(`${file}:4:15: jobs.x.schedule: "*/0 * * * *" is not a cron expression`);
  });

  it('refuses to listen beyond loopback without API tokens, and says how to fix it', async function () {
    const dir = await tempDir();
    cleanup.push(dir);
    const file = join(dir, 'open.yaml');
    await writeFile(file, configText('  {}\n'));
    const r = await refusedStart(file, ['--listen', '0.0.0.0:0']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('refusing to listen on 0.0.0.0:0 without API tokens').and.include('api.tokens');
  });
});
