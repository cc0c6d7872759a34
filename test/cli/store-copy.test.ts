/**
 * Black-box: `watchbell store copy` moves a daemon's installation from its data dir to PostgreSQL and
 * back; the daemon started on the copy shows the same jobs, pause, executions and logs. A target that
 * holds anything is refused without --force.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { BIN, configText, removeDir, startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';
import { dropTestSchemas, requirePostgres, testStoreUrl } from '../helpers/postgres.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function watchbell(args: string[]): Promise<Result> {
  // WATCHBELL_TEST_STORE must not turn the daemons of this test to PostgreSQL: the test picks each store itself.
  const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, WATCHBELL_TEST_STORE: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const [code] = (await once(p, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

const JOBS = '  nightly:\n    schedule: "0 3 * * *"\n    command: "echo nightly-out; echo nightly-err >&2"\n';

describe('watchbell store copy (black-box)', function () {
  this.timeout(120_000);
  let dir: string | undefined;
  let back: string | undefined;
  let d: DaemonProcess | undefined;

  before(async function () {
    await requirePostgres(this);
  });

  after(async () => {
    await d?.stop();
    if (dir) await removeDir(dir);
    if (back) await removeDir(back);
    await dropTestSchemas();
  });

  /** What a daemon shows of the installation, to compare before and after a copy. */
  async function snapshot(daemon: DaemonProcess) {
    const jobs = (await daemon.api('GET', '/api/v1/jobs?limit=100')).body.data.map((j: { id: string; status: string; command: unknown }) => [j.id, j.status, j.command]);
    const executions = (await daemon.api('GET', '/api/v1/executions?limit=100')).body.data as Array<{ id: string; job_id: string; status: string; attempts: unknown[] }>;
    const logs: string[] = [];
    for (const e of executions) logs.push((await daemon.api('GET', `/api/v1/jobs/${e.job_id}/executions/${e.id}/log`)).text);
    return { jobs, executions: executions.map((e) => [e.id, e.job_id, e.status, e.attempts.length]), logs };
  }

  it('copies a data dir to PostgreSQL and back, printing counts, refusing a non-empty target without --force', async () => {
    dir = await tempDir();
    d = await startDaemon({ dir, config: configText(JOBS), env: { WATCHBELL_STORE: '' } });
    expect((await d.api('POST', '/api/v1/jobs', { id: 'api-one', schedule: '@daily', command: 'echo one' })).status).to.equal(201);
    expect((await d.api('POST', '/api/v1/jobs', { id: 'api-two', schedule: '@hourly', command: 'exit 3' })).status).to.equal(201);
    for (const id of ['nightly', 'api-one', 'api-two', 'nightly']) {
      const run = await d.api('POST', `/api/v1/jobs/${id}/run`);
      await d.finished(run.body.data.execution_id as string, 20_000);
    }
    expect((await d.api('POST', '/api/v1/jobs/nightly/pause')).status).to.equal(200);
    const before = await snapshot(d);
    expect(before.logs.join('')).to.include('nightly-err');
    await d.stop();
    d = undefined;

    const url = testStoreUrl();
    const data = join(dir, 'data');
    const copied = await watchbell(['store', 'copy', '--from', data, '--to', url]);
    expect(copied.stderr).to.equal('');
    expect(copied.code).to.equal(0);
    expect(copied.stdout).to.match(/^copied 2 API jobs, 2 job states, 4 executions and 3 logs from \/.*\/data to postgres:\/\/postgres@127\.0\.0\.1:5432\/test\?schema=wb_test_[0-9a-f]+\n$/);

    const refused = await watchbell(['store', 'copy', '--from', data, '--to', url]);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/store copy: postgres:\/\/.* is not empty; refusing to overwrite it \(add --force to replace what it holds\)\n$/);
    const forced = await watchbell(['store', 'copy', '--from', data, '--to', url, '--force']);
    expect(forced.code, forced.stderr).to.equal(0);
    expect(forced.stdout, forced.stdout).to.include('copied 2 API jobs, 2 job states, 4 executions and 3 logs');

    d = await startDaemon({ dir, env: { WATCHBELL_STORE: url } });
    expect(await snapshot(d)).to.deep.equal(before);
    await d.stop();
    d = undefined;

    back = await tempDir();
    const again = await watchbell(['store', 'copy', '--from', url, '--to', join(back, 'data'), '--data', data]);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout, again.stdout).to.include('copied 2 API jobs, 2 job states, 4 executions and 3 logs');
    d = await startDaemon({ dir: back, config: configText(JOBS), env: { WATCHBELL_STORE: '' } });
    expect(await snapshot(d)).to.deep.equal(before);
  });
});
