/**
 * Black-box: notifiers that cannot be reached (a closed port, a server that never answers, an SMTP server that
 * is not there) never delay a job or its next run, never make the daemon DOWN, never hold up its exit for
 * long, and their secrets appear nowhere: not in the daemon's output, /health, /metrics, nor jobs' environment.
 */
import { expect } from 'chai';
import { configText, removeDir, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { closedPort, startBlackHole } from './peers.js';

const SECRETS = {
  DEAD_TOKEN: 'tok-a81f3c0d9e-hush',
  HOOK_SECRET: 'whsec-0c7e52b1aa-hush',
  API_KEY: 'key-6d2e90f4b3-hush',
  SLACK_TOKEN: 'T0DEAD/B0DEAD/slk-4f81e7c2d0-hush',
  SMTP_PASSWORD: 'smtp-9b3a7e1c55-hush',
};

describe('unreachable notifiers (black-box)', function () {
  let d: DaemonProcess;
  let hole: Awaited<ReturnType<typeof startBlackHole>>;

  before(async function () {
    hole = await startBlackHole();
    const [deadPort, mailPort] = [await closedPort(), await closedPort()];
    const notifiers =
      'notifiers:\n' +
      `  dead:\n    type: webhook\n    url: http://127.0.0.1:${deadPort}/hook?token=\${DEAD_TOKEN}\n    secret: \${HOOK_SECRET}\n` +
      '    headers:\n      Authorization: Bearer ${API_KEY}\n' +
      `  silent:\n    type: webhook\n    format: slack\n    url: http://127.0.0.1:${hole.port}/services/\${SLACK_TOKEN}\n    timeout: 1s\n    retries: 1\n` +
      `  nomail:\n    type: email\n    host: 127.0.0.1\n    port: ${mailPort}\n    tls: none\n    user: watchbell\n    password: \${SMTP_PASSWORD}\n` +
      '    from: watchbell@example.com\n    to: ops@example.com\n';
    // `env` shows what a job inherits: the notifiers' secrets must not be there.
    const jobs = '  tick:\n    schedule: "@every 1s"\n    command: env; exit 1\n    notify:\n' +
      '      - notifier: dead\n      - notifier: silent\n      - notifier: nomail\n';
    d = await startDaemon({ config: configText(jobs, notifiers), env: SECRETS });
  });

  after(async function () {
    if (d && d.proc.exitCode === null) await d.stop();
    await hole?.close();
    if (d) await removeDir(d.dir);
  });

  it('runs every slot on time while each delivery fails', async function () {
    const finished = (n: number) => d.waitFor((l) => l.event === 'execution.finished' && l.job_id === 'tick' && d.lines.filter((x) => x.event === 'execution.finished').length >= n);
    await finished(5);
    const runs = (await d.api('GET', '/api/v1/jobs/tick/executions?limit=100')).body.data.reverse();
    expect(runs.length).to.be.at.least(5);
    for (const [i, e] of runs.entries()) {
      expect(e.status).to.equal('failure');
      const late = Date.parse(e.started_at) - Date.parse(e.scheduled_at);
      expect(late, `execution ${i} started ${late} ms after its slot`).to.be.below(500);
      if (i > 0) expect(Date.parse(e.scheduled_at) - Date.parse(runs[i - 1].scheduled_at), 'no slot is missed').to.equal(1000);
    }
    expect(d.lines.filter((l) => l.event === 'schedule.late' || l.event === 'execution.skipped')).to.deep.equal([]);

    // Meanwhile every target was tried, and failed the way it should.
    expect(await d.waitFor((l) => l.event === 'notify.retry' && l.notifier === 'dead')).to.include({ error_code: 'NETWORK', notifier_type: 'webhook' });
    expect(await d.waitFor((l) => l.event === 'notify.retry' && l.notifier === 'silent')).to.include({ error_code: 'TIMEOUT', error: 'no answer within 1s', notifier_type: 'slack' });
    expect(await d.waitFor((l) => l.event === 'notify.retry' && l.notifier === 'nomail')).to.include({ error_code: 'NETWORK', notifier_type: 'email' });
    expect(hole.connections()).to.be.at.least(1);
  });

  it('stays UP, with each target\'s last error in /health', async function () {
    const health = await d.api('GET', '/health');
    expect(health.status).to.equal(200);
    expect(health.body.notifiers.dead.last_error).to.include({ code: 'NETWORK' });
    expect(health.body.notifiers.dead.last_error.message).to.match(/ECONNREFUSED/);
    expect(health.body.notifiers.silent.last_error).to.include({ code: 'TIMEOUT' });
    expect(health.body.notifiers.nomail.last_error).to.include({ code: 'NETWORK' });
    expect(health.body.notifiers.silent.queued).to.be.at.most(100);
  });

  it('never shows a secret: not in its output, /health, /metrics, nor the environment jobs inherit', async function () {
    const texts = [
      JSON.stringify(d.lines), d.stderr.join('\n'),
      (await d.api('GET', '/health')).text, (await d.api('GET', '/metrics')).text,
      (await d.api('GET', '/api/v1/jobs/tick/tail?n=1000')).text,
    ];
    expect(texts[4]).to.include('PATH=');
    for (const secret of [...Object.values(SECRETS), 'slk-4f81e7c2d0-hush']) {
      for (const text of texts) expect(text).not.to.include(secret);
    }
  });

  it('stops within the notifications\' grace, with exit code 0', async function () {
    expect((await d.api('POST', '/api/v1/jobs/tick/pause')).status).to.equal(200);
    const started = Date.now();
    const exit = await d.stop();
    expect(exit.code).to.equal(0);
    expect(Date.now() - started).to.be.below(8000);
  });
});
