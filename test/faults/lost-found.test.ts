/**
 * Black-box: files moved aside in the data dir (as a start-up error message may advise) never make the
 * next start delete logs silently; a lost api-jobs.json stops the start, saying what to do.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BIN, configText, removeDir, startDaemon, tempDir, type DaemonProcess } from '../helpers/daemon-process.js';

const JOBS = '/api/v1/jobs';

describe('faults: files moved aside in the data dir', function () {
  this.timeout(120_000);
  let dir: string;
  const daemons: DaemonProcess[] = [];
  const procs: ChildProcess[] = [];

  beforeEach(async () => {
    dir = await tempDir('watchbell-lostfound-');
  });

  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.stop('SIGKILL');
    for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await removeDir(dir);
  });

  /** Starts a daemon, makes API job `a` and runs it once; resolves with its execution id, the daemon stopped. */
  async function oneRun(): Promise<string> {
    const d = await startDaemon({ dir, config: configText('  {}\n') });
    daemons.push(d);
    expect((await d.api('POST', JOBS, { id: 'a', schedule: '0 0 1 1 *', command: 'echo precious' })).status).to.equal(201);
    const run = await d.api('POST', `${JOBS}/a/run`);
    const id = String(run.body.data.execution_id);
    await d.finished(id);
    await d.stop('SIGTERM');
    return id;
  }

  it('moves the logs of a job whose journal was moved aside to lost+found, and logs it', async () => {
    const id = await oneRun();
    const data = join(dir, 'data');
    await rename(join(data, 'jobs', 'a', 'journal.jsonl'), join(dir, 'journal.aside'));
    const d = await startDaemon({ dir });
    daemons.push(d);
    const line = await d.waitFor((l) => l.event === 'store.lost_found');
    expect(line.path).to.equal('jobs/a');
    expect(String(line.msg)).to.contain('has no journal');
    const log = await readFile(join(data, String(line.moved_to), 'logs', `${id}.log`), 'utf8');
    expect(log).to.contain('precious');
    expect((await d.api('GET', `${JOBS}/a`)).status, 'the job itself stays').to.equal(200);
  });

  it('refuses to start when api-jobs.json is gone but API jobs\' history is not, and starts once it is recreated empty', async () => {
    await oneRun();
    const apiFile = join(dir, 'data', 'api-jobs.json');
    await rm(apiFile);
    const proc = spawn(process.execPath, [BIN, 'daemon', '--config', join(dir, 'watchbell.yaml')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(proc);
    let output = '';
    proc.stdout.on('data', (c: Buffer) => (output += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const [code] = (await once(proc, 'exit')) as [number | null];
    expect(code, output).to.not.equal(0);
    expect(output).to.contain(`${apiFile} is missing`);
    expect(output).to.contain('(a)');
    expect(await readdir(join(dir, 'data', 'jobs', 'a', 'logs')), 'nothing deleted').to.not.have.length(0);
    await writeFile(apiFile, '{"jobs":[]}');
    const d = await startDaemon({ dir });
    daemons.push(d);
    expect((await d.api('GET', '/api/v1/executions')).body.pagination.total, 'the history stays').to.equal(1);
  });
});
