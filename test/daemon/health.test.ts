/** Black-box: GET /health reports UP, and 503 DOWN while the data dir cannot be written. */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { removeDir, startWithJobs, type DaemonProcess } from '../helpers/daemon-process.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const run = promisify(execFile);

/** `dir` read-only for every user, root included: a read-only bind mount of itself. */
async function mountReadOnly(dir: string): Promise<void> {
  await run('mount', ['--bind', dir, dir]);
  await run('mount', ['-o', 'remount,bind,ro', dir]);
}

/** chmod of the data dir and its jobs dir (writes go to both). */
async function chmodAll(dir: string, mode: number): Promise<void> {
  await chmod(join(dir, 'jobs'), mode);
  await chmod(dir, mode);
}

describe('GET /health (black-box)', function () {
  let d: DaemonProcess;
  before(async function () {
    d = await startWithJobs('  a:\n    schedule: "@daily"\n    command: "true"\n  b:\n    schedule: "@daily"\n    command: "true"\n');
    expect((await d.api('POST', '/api/v1/jobs/b/pause')).status).to.equal(200);
  });
  after(async function () {
    await chmod(d.dataDir, 0o755).catch(() => undefined);
    await chmod(join(d.dataDir, 'jobs'), 0o755).catch(() => undefined);
    await d.stop();
    await removeDir(d.dir);
  });

  async function expectUp(): Promise<void> {
    const res = await d.api('GET', '/health');
    expect(res.status, res.text).to.equal(200);
    expect(res.body).to.include({ status: 'UP', version: '0.1.0' });
    expect(res.body.uptime).to.be.a('number');
    expect(res.body.jobs).to.deep.equal({ total: 2, active: 1, paused: 1, completed: 0 });
    expect(res.body.store).to.deep.equal({ status: 'writable', data_dir: d.dataDir });
  }

  async function expectDown(): Promise<void> {
    const res = await d.api('GET', '/health');
    expect(res.status, res.text).to.equal(503);
    expect(res.body.status).to.equal('DOWN');
    expect(res.body.store).to.deep.equal({ status: 'not writable', data_dir: d.dataDir });
    // Still a full report: what is wrong is the store, not the daemon's bookkeeping.
    expect(res.body.jobs.total).to.equal(2);
  }

  it('answers UP with version, uptime, job counts and store status', async function () {
    await expectUp();
  });

  it('answers 503 DOWN while the data dir is read-only, and UP again after', async function () {
    // Root ignores file modes (CAP_DAC_OVERRIDE), so as root the dir is made read-only by a read-only bind
    // mount of itself, which stops root's writes too; as any other user, by chmod 0555.
    const readOnly = isRoot ? () => mountReadOnly(d.dataDir) : () => chmodAll(d.dataDir, 0o555);
    const writable = isRoot ? () => run('umount', [d.dataDir]).then(() => undefined) : () => chmodAll(d.dataDir, 0o755);
    await readOnly();
    try {
      await expectDown();
    } finally {
      await writable();
    }
    await expectUp();
  });

  it('answers 503 DOWN while the data dir is not a writable directory, even for root, and UP again after', async function () {
    // The daemon keeps its data in memory and writes files by path, so moving the dir away and putting
    // a plain file in its place makes every write fail (ENOTDIR), whoever the daemon runs as.
    const moved = `${d.dataDir}.moved`;
    await rename(d.dataDir, moved);
    await writeFile(d.dataDir, 'not a directory\n');
    try {
      await expectDown();
    } finally {
      await rm(d.dataDir, { force: true });
      await rename(moved, d.dataDir);
    }
    await expectUp();
    // The daemon still works on the restored dir.
    await mkdir(join(d.dataDir, 'jobs'), { recursive: true });
    const eid = (await d.api('POST', '/api/v1/jobs/a/run')).body.data.execution_id;
    expect((await d.finished(eid)).status).to.equal('success');
  });
});
