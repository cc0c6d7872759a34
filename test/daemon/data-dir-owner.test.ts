/**
 * Black-box, as root (CI runs as root): the daemon refuses a data dir, or a directory in it, that another user
 * owns or others may write, and any symbolic link inside it; the victim of a planted link stays untouched
 * (issue 20, item 4).
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { chmod, chown, lstat, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { BIN, configText, removeDir, startWithJobs, tempDir } from '../helpers/daemon-process.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

/** Runs `watchbell daemon` on `dir`'s config; resolves with how it ended (it should refuse at once). */
function daemonIn(dir: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [BIN, 'daemon', '--config', join(dir, 'watchbell.yaml')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (b: Buffer) => (stderr += String(b)));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('a data dir the daemon does not own (black-box, as root)', function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  before(function () {
    if (!isRoot) this.skip();
  });
  afterEach(async function () {
    while (dirs.length) await removeDir(dirs.pop()!);
  });

  async function fresh(): Promise<string> {
    const dir = await tempDir();
    dirs.push(dir);
    await writeFile(join(dir, 'watchbell.yaml'), configText('  {}\n'));
    return dir;
  }

  it('refuses a data dir created by another user, saying how to fix it, and reads nothing in it', async function () {
    const dir = await fresh();
    const data = join(dir, 'data');
    await mkdir(data, { mode: 0o700 });
    await chown(data, NOBODY, NOBODY);
    const res = await daemonIn(dir);
    expect(res.code).to.equal(1);
    expect(res.stderr).to.include(`${data} is owned by uid ${NOBODY}, not by the daemon's user (uid 0)`).and.include(`chown -R 0 ${data}`);
    expect(await readdir(data)).to.deep.equal([]);
  });

  it('refuses a directory inside it owned by another user, or a data dir others may write', async function () {
    const dir = await fresh();
    const data = join(dir, 'data');
    await mkdir(join(data, 'jobs'), { recursive: true, mode: 0o700 });
    await chown(join(data, 'jobs'), NOBODY, NOBODY);
    let res = await daemonIn(dir);
    expect(res.code).to.equal(1);
    expect(res.stderr).to.include(`${join(data, 'jobs')} is owned by uid ${NOBODY}`);

    await chown(join(data, 'jobs'), 0, 0);
    await chmod(data, 0o777);
    res = await daemonIn(dir);
    expect(res.code).to.equal(1);
    expect(res.stderr).to.include(`${data} is writable by others (mode 777)`).and.include('chmod -R o-w');
  });

  it('makes its directories 0700 and its files 0600: logs, journals, job documents, write-ahead log, lock and pid files', async function () {
    const d = await startWithJobs('  mode-job:\n    schedule: "@yearly"\n    command: sleep 0.3; echo hello\n');
    dirs.push(d.dir);
    expect((await d.api('POST', '/api/v1/jobs', { id: 'api-job', schedule: '@yearly', command: 'true' })).status).to.equal(201);
    const run = await d.api('POST', '/api/v1/jobs/mode-job/run');
    await d.waitFor((l) => l.event === 'execution.started' && l.execution_id === run.body.data.execution_id);
    const seen: string[] = [];
    const walk = async (p: string): Promise<void> => {
      const st = await lstat(p);
      seen.push(`${(st.mode & 0o777).toString(8)} ${relative(d.dataDir, p) || '.'}${st.isDirectory() ? '/' : ''}`);
      if (st.isDirectory()) for (const name of await readdir(p)) await walk(join(p, name));
    };
    // While it runs (the pid file exists) and after (the checkpoint wrote the journal at stop).
    await walk(d.dataDir);
    await d.finished(run.body.data.execution_id);
    expect((await d.stop()).code).to.equal(0);
    await walk(d.dataDir);
    const wrong = seen.filter((line) => {
      const [mode, path] = line.split(' ') as [string, string];
      return mode !== (path.endsWith('/') ? '700' : '600');
    });
    expect(seen.some((l) => l.endsWith('.log'))).to.equal(true);
    expect(seen.some((l) => l.includes('journal'))).to.equal(true);
    expect(wrong, seen.join('\n')).to.deep.equal([]);
  });

  it('never writes through links planted for a job\'s logs dir and its journal\'s temp file; their targets stay untouched', async function () {
    const jobs = '  victim-job:\n    schedule: "@yearly"\n    command: echo hello\n';
    let d = await startWithJobs(jobs);
    dirs.push(d.dir);
    const first = await d.api('POST', '/api/v1/jobs/victim-job/run');
    await d.finished(first.body.data.execution_id);
    expect((await d.stop()).code).to.equal(0);

    const jobDir = join(d.dataDir, 'jobs', 'victim-job');
    const elsewhere = join(d.dir, 'elsewhere');
    await mkdir(elsewhere);
    const victim = join(d.dir, 'victim.txt');
    await writeFile(victim, 'root-owned, keep me');
    await rm(join(jobDir, 'logs'), { recursive: true });
    await symlink(elsewhere, join(jobDir, 'logs'));
    await symlink(victim, join(jobDir, '.journal.jsonl.tmp'));
    // A link in the top levels refuses the start; deeper ones are refused where they would be written through.
    await symlink(victim, join(d.dataDir, 'jobs', 'planted'));
    const refused = await daemonIn(d.dir);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.include(`${join(d.dataDir, 'jobs', 'planted')} is a symbolic link`).and.include('remove it');
    await rm(join(d.dataDir, 'jobs', 'planted'));

    d = await startWithJobs(jobs, { dir: d.dir });
    const run = await d.api('POST', '/api/v1/jobs/victim-job/run');
    const finished = await d.finished(run.body.data.execution_id);
    expect(finished.status).to.equal('failure');
    expect(String(finished.error)).to.include(`${join(jobDir, 'logs')} in the data dir is a symbolic link`);
    expect((await d.stop()).code).to.equal(0);
    expect(await readFile(victim, 'utf8')).to.equal('root-owned, keep me');
    expect(await readdir(elsewhere)).to.deep.equal([]);
  });
});
