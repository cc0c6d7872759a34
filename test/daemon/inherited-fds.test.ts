/**
 * Black-box: a file descriptor the daemon inherited from whoever started it never reaches a job (issue 20,
 * item 10). The daemon is started as `bash -c 'exec 251>FILE; exec node watchbell daemon'`, as the probe did.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BIN, configText, DaemonProcess, removeDir, tempDir } from '../helpers/daemon-process.js';

describe('descriptors inherited by the daemon (black-box)', function () {
  this.timeout(60_000);
  let d: DaemonProcess | undefined;
  before(function () {
    if (process.platform !== 'linux') this.skip();
  });
  after(async function () {
    if (!d) return;
    await d.stop();
    await removeDir(d.dir);
  });

  it('closes them at start: a job sees stdin, stdout and stderr only', async function () {
    const dir = await tempDir();
    await writeFile(join(dir, 'watchbell.yaml'), configText('  fds:\n    schedule: "@yearly"\n    command: ls /proc/self/fd\n'));
    const script = `exec 251>"$1/held"; exec "$2" "$3" daemon --config "$1/watchbell.yaml"`;
    const proc = spawn('bash', ['-c', script, 'bash', dir, process.execPath, BIN], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    d = new DaemonProcess(proc, dir);
    d.url = String((await d.waitFor((l) => l.event === 'daemon.started', 20_000)).url);
    const closed = await d.waitFor((l) => l.event === 'daemon.inherited_fds_closed');
    expect(closed.fds).to.include(251);

    const run = await d.api('POST', '/api/v1/jobs/fds/run');
    await d.finished(run.body.data.execution_id);
    const log = (await d.api('GET', `/api/v1/jobs/fds/executions/${run.body.data.execution_id}/log`)).text;
    // ls's own listing of the directory is the one descriptor above 2.
    const fds = log.trim().split(/\s+/).map(Number);
    expect(fds).to.include.members([0, 1, 2]);
    expect(fds.filter((fd) => fd > 3), log).to.deep.equal([]);
  });
});
