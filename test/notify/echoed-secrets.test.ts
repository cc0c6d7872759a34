/**
 * Black-box: a receiver that echoes the credential it got never shows it on /health or in the log, however it
 * spells it (URL-encoded) and wherever the quoted answer is cut (issue 20, item 6).
 */
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { configText, removeDir, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';

const KEY = 'echo-key/9f3b+71c2a0d5e';
const TOKEN = 'echo-api-token-4d8e1f0b2c';

describe('notifier errors quoting a secret (black-box)', function () {
  this.timeout(60_000);
  let d: DaemonProcess | undefined;
  let server: Server;

  before(async function () {
    // Answers 401 quoting what it got: the header cut by the daemon's 200-character limit, URL-encoded, and an API token it knows.
    server = createServer((req, res) => {
      const got = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
      req.resume();
      const body = req.url === '/cut' ? `bad credential ${'p'.repeat(180)}${got}` : `bad credential ${encodeURIComponent(got)} (admin ${TOKEN})`;
      res.writeHead(401, { 'content-type': 'text/plain' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const notifiers = 'notifiers:\n' +
      `  cut:\n    type: webhook\n    url: http://127.0.0.1:${port}/cut\n    retries: 0\n    headers:\n      Authorization: Bearer \${ECHO_KEY}\n` +
      `  encoded:\n    type: webhook\n    url: http://127.0.0.1:${port}/encoded\n    retries: 0\n    headers:\n      Authorization: Bearer \${ECHO_KEY}\n` +
      `api:\n  tokens:\n    - name: admin\n      token: \${ECHO_TOKEN}\n      scope: admin\n`;
    const jobs = '  fails:\n    schedule: "@yearly"\n    command: exit 1\n    notify:\n      - notifier: cut\n      - notifier: encoded\n';
    d = await startDaemon({ config: configText(jobs, notifiers), env: { ECHO_KEY: KEY, ECHO_TOKEN: TOKEN } });
  });

  after(async function () {
    if (d) {
      await d.stop();
      await removeDir(d.dir);
    }
    await new Promise((resolve) => server.close(resolve));
  });

  it('masks it in last_error on /health and in the log', async function () {
    const daemon = d!;
    await daemon.api('POST', '/api/v1/jobs/fails/run', undefined, { authorization: `Bearer ${TOKEN}` });
    await daemon.waitFor((l) => l.event === 'notify.failed' && l.notifier === 'cut');
    await daemon.waitFor((l) => l.event === 'notify.failed' && l.notifier === 'encoded');
    const health = await daemon.api('GET', '/health');
    const shown = JSON.stringify(health.body.notifiers) + daemon.lines.map((l) => JSON.stringify(l)).join('\n');
    expect(shown).to.include('bad credential').and.include('******');
    for (const secret of [KEY, TOKEN]) {
      for (const spelling of [secret, encodeURIComponent(secret), secret.slice(0, 8)]) expect(shown, spelling).not.to.include(spelling);
    }
  });
});
