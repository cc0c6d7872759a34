/** `watchbell events` as a subprocess against a real daemon: lines as things happen, JSON, a refused token. */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { expect } from 'chai';
import { BIN, configText, removeDir, ROOT, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';

describe('watchbell events', function () {
  this.timeout(60_000);
  let d: DaemonProcess;
  const AUTH = { authorization: 'Bearer ev-admin-1' };
  before(async () => {
    d = await startDaemon({ config: configText('  quick:\n    schedule: "@every 1h"\n    command: "true"\n', 'api:\n  tokens:\n    - { name: ops, token: ev-admin-1, scope: admin }\n') });
  });
  after(async () => {
    await d.stop();
    await removeDir(d.dir);
  });

  /** Starts the verb; resolves with its first stdout line that matches, then stops it. */
  function firstLine(args: string[], pred: (line: string) => boolean, whenListening: () => Promise<unknown>): Promise<string> {
    const p = spawn(process.execPath, [BIN, 'events', '--url', d.url, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (p.kill(), reject(new Error('no matching line'))), 20_000);
      // The daemon counts the client once the stream is open: then there is something to see.
      let acted = false;
      const poll = setInterval(async () => {
        const h = await d.api('GET', '/health');
        if (h.body.events.clients > 0 && !acted) {
          acted = true;
          clearInterval(poll);
          await whenListening();
        }
      }, 50);
      createInterface({ input: p.stdout }).on('line', (line) => {
        if (!pred(line)) return;
        clearTimeout(timer);
        clearInterval(poll);
        p.kill();
        resolve(line);
      });
    });
  }

  it('prints a line per event as it happens', async () => {
    const line = await firstLine(['--token', 'ev-admin-1'], (l) => l.includes('execution.finished'), () => d.api('POST', '/api/v1/jobs/quick/run', undefined, AUTH));
    expect(line).to.match(/^\d\d:\d\d:\d\d +execution\.finished +quick +exec-\S+ +success$/);
  });

  it('--json prints each event as a JSON line', async () => {
    const line = await firstLine(['--json', '--token', 'ev-admin-1'], (l) => l.includes('job.paused'), () => d.api('POST', '/api/v1/jobs/quick/pause', undefined, AUTH));
    const event = JSON.parse(line);
    expect(event).to.include({ type: 'job.paused' });
    expect(event.id).to.match(/^[0-9a-f]{8}-\d+$/);
    expect(event.data.job).to.include({ id: 'quick', status: 'paused' });
    await d.api('POST', '/api/v1/jobs/quick/resume', undefined, AUTH);
  });

  it('exits 1 with the API\'s message when the token is refused', async () => {
    const p = spawn(process.execPath, [BIN, 'events', '--url', d.url, '--token', 'wrong'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise((r) => p.on('exit', r));
    expect(code).to.equal(1);
    expect(stderr).to.include('401').and.include('invalid API token');
  });
});
