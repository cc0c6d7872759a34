/**
 * Black-box: webhook notifications from the real daemon to a real HTTP server in the test: the body (event,
 * job and execution as the API shows them), the signature over the exact body, retries on 5xx and none on
 * 4xx, `recovered`, `skipped`, and what logs, /metrics and /health say about deliveries.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { verifySignature } from '../../src/notify/signature.js';
import { configText, removeDir, startDaemon, type DaemonProcess, type LogLine } from '../helpers/daemon-process.js';
import { startReceiver, type Receiver } from './peers.js';
import { expectSlackShape } from './slack-shape.js';

const SECRET = 'whsec-5f0d2c9e81b4-hush';
const DB_PASSWORD = 'pw-77a1c0de93-hush';
const SLACK_PATH = '/services/T0WATCH/B0BELL/xoxSlackToken9f3e';

describe('webhook notifications (black-box)', function () {
  let d: DaemonProcess;
  let hook: Receiver;
  let rejecting: Receiver;
  let chat: Receiver;
  let skips: Receiver;

  const line = (pred: (l: LogLine) => boolean) => d.waitFor(pred);
  const notifyLine = (event: string, notifier: string, more: Partial<LogLine> = {}) =>
    line((l) => l.event === event && l.notifier === notifier && Object.entries(more).every(([k, v]) => l[k] === v));

  async function run(id: string): Promise<string> {
    const res = await d.api('POST', `/api/v1/jobs/${id}/run`);
    expect(res.status, res.text).to.equal(202);
    const eid = res.body.data.execution_id as string;
    await d.finished(eid);
    return eid;
  }

  before(async function () {
    [hook, rejecting, chat, skips] = await Promise.all([startReceiver([500, 200]), startReceiver([400]), startReceiver([200], SLACK_PATH), startReceiver([200])]);
    const notifiers =
      'notifiers:\n' +
      '  hook:\n    type: webhook\n    url: ${HOOK_URL}\n    secret: ${HOOK_SECRET}\n' +
      `  rejecting:\n    type: webhook\n    url: ${rejecting.url}\n` +
      '  chat:\n    type: webhook\n    format: slack\n    url: ${SLACK_URL}\n' +
      `  skips:\n    type: webhook\n    url: ${skips.url}\n`;
    const jobs =
      '  flaky:\n    schedule: "@yearly"\n' +
      '    command: test -f ok-flag || { echo "line one"; echo "disk <full> & broken" >&2; exit 3; }\n' +
      '    environment:\n      DB_PASSWORD: ${DB_PASSWORD}\n' +
      '    notify:\n' +
      '      - notifier: hook\n' +
      '      - notifier: rejecting\n        events: [finish]\n' +
      '      - notifier: chat\n        events: [failure, success]\n' +
      '  busy:\n    schedule: "@every 1s"\n    command: sleep 1.6\n' +
      '    notify:\n      - notifier: skips\n        events: [skipped]\n';
    const config = configText(jobs, notifiers).replace('daemon:\n', 'daemon:\n  public_url: https://cron.example.com/\n');
    d = await startDaemon({ config, env: { HOOK_URL: hook.url, HOOK_SECRET: SECRET, SLACK_URL: chat.url, DB_PASSWORD } });
  });

  after(async function () {
    const exit = await d?.stop();
    await Promise.all([hook, rejecting, chat, skips].map((r) => r?.close()));
    if (d) await removeDir(d.dir);
    expect(exit?.code).to.equal(0);
  });

  it('sends a skipped run of a busy job to a notifier that asks for skipped', async function () {
    const [req] = await skips.received(1);
    const body = JSON.parse(req!.body);
    expect(body.event).to.equal('skipped');
    expect(body.execution).to.include({ job_id: 'busy', status: 'skipped', reason: 'overlap' });
    expect((await d.api('POST', '/api/v1/jobs/busy/pause')).status).to.equal(200);
  });

  let failed = '';
  it('POSTs {event, job, execution} as the API shows them, signed over the exact body, and retries after a 500', async function () {
    failed = await run('flaky');
    const [first, second] = await hook.received(2);
    expect(first!.body).to.equal(second!.body);
    expect(first!.headers['x-watchbell-delivery']).to.be.a('string').and.equal(second!.headers['x-watchbell-delivery']);
    expect(first!.headers['content-type']).to.equal('application/json');
    expect(first!.headers['x-watchbell-event']).to.equal('failure');
    expect(first!.headers['user-agent']).to.match(/^watchbell\//);
    for (const req of [first!, second!]) {
      expect(verifySignature(req.body, SECRET, req.headers['x-watchbell-signature'] as string), 'signature').to.equal(true);
    }
    expect(first!.headers['x-watchbell-signature']).to.match(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature(`${first!.body} `, SECRET, first!.headers['x-watchbell-signature'] as string)).to.equal(false);

    const body = JSON.parse(first!.body);
    expect(Object.keys(body)).to.deep.equal(['event', 'job', 'execution']);
    expect(body.event).to.equal('failure');
    const execution = (await d.api('GET', `/api/v1/jobs/flaky/executions/${failed}`)).body.data;
    expect(body.execution).to.deep.equal(execution);
    expect(body.execution).to.include({ status: 'failure', exit_code: 3, error: 'exited with code 3' });
    const job = (await d.api('GET', '/api/v1/jobs/flaky')).body.data;
    expect(body.job).to.deep.equal(job);
    expect(body.job.environment).to.deep.equal({ DB_PASSWORD: '******' });
    expect(body.job.notify[0]).to.deep.equal({ notifier: 'hook', events: ['failure', 'recovered'] });

    // Backoff: the second attempt came about a second after the first.
    expect(second!.at - first!.at).to.be.within(800, 5000);
    const retry = await notifyLine('notify.retry', 'hook', { execution_id: failed });
    expect(retry).to.include({ attempt: 1, status_code: 500, error_code: 'HTTP_STATUS', notify_event: 'failure', retry_in_ms: 1000, notifier_type: 'webhook' });
    expect(retry.error).to.equal('answered 500: status 500');
    expect(await notifyLine('notify.sent', 'hook', { execution_id: failed })).to.include({ attempt: 2, status_code: 200 });
  });

  it('does not retry a 4xx', async function () {
    const failure = await notifyLine('notify.failed', 'rejecting', { execution_id: failed });
    expect(failure).to.include({ attempt: 1, status_code: 400, notify_event: 'finish' });
    expect(rejecting.requests).to.have.length(1);
  });

  it('sends a Slack message with the job, status, duration, exit code, error, output tail and a link from public_url', async function () {
    const [req] = await chat.received(1);
    expect(req!.path).to.equal(SLACK_PATH);
    const message = JSON.parse(req!.body);
    expectSlackShape(message);
    const all = JSON.stringify(message);
    expect(message.text).to.include('flaky failed: exited with code 3');
    expect(all).to.include('*Exit code*\\n3').and.include('*Status*\\nfailure').and.include('*Duration*');
    expect(all).to.include('disk &lt;full&gt; &amp; broken').and.include('line one');
    expect(all).to.include(`<https://cron.example.com/api/v1/jobs/flaky/executions/${failed}/log|`);
    expect(req!.headers['x-watchbell-signature']).to.equal(undefined);
  });

  it('sends `recovered` (not success) to a notifier asking for it when the job succeeds after a failure', async function () {
    await writeFile(join(d.dir, 'ok-flag'), '');
    const ok = await run('flaky');
    const [, , third] = await hook.received(3);
    const body = JSON.parse(third!.body);
    expect(body.event).to.equal('recovered');
    expect(body.execution).to.include({ id: ok, status: 'success' });
    const [, slack] = await chat.received(2);
    expect(JSON.parse(slack!.body).text).to.include('flaky succeeded');
    // A second success is not a recovery, and the hook asked for nothing else.
    const again = await run('flaky');
    await notifyLine('notify.sent', 'chat', { execution_id: again });
    expect(hook.requests).to.have.length(3);
  });

  it('counts attempts by notifier and outcome in /metrics', async function () {
    await notifyLine('notify.failed', 'rejecting', { notify_event: 'finish', attempt: 1, execution_id: (await d.api('GET', '/api/v1/jobs/flaky')).body.data.last_run.id });
    const text = (await d.api('GET', '/metrics')).text;
    const count = (notifier: string, outcome: string) => Number(new RegExp(`^watchbell_notifications_total\\{notifier="${notifier}",outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    expect(count('hook', 'retry')).to.equal(1);
    expect(count('hook', 'sent')).to.equal(2);
    expect(count('rejecting', 'failed')).to.equal(3);
    expect(count('chat', 'sent')).to.equal(3);
  });

  it('shows each notifier in /health with its last delivery error, the URL reduced to its origin', async function () {
    const health = (await d.api('GET', '/health')).body;
    expect(health.status).to.equal('UP');
    const origin = new URL(hook.url).origin;
    expect(health.notifiers.hook).to.include({ type: 'webhook', format: 'json', target: origin, sent: 2, failed: 0, dropped: 0, queued: 0 });
    expect(health.notifiers.hook.last_error).to.include({ code: 'HTTP_STATUS', status: 500, event: 'failure', job_id: 'flaky', execution_id: failed });
    expect(health.notifiers.rejecting.last_error).to.include({ status: 400, message: 'answered 400: status 400' });
    expect(health.notifiers.chat).to.include({ format: 'slack', target: new URL(chat.url).origin, last_error: null });
  });

  it('never writes the secret, the Slack URL or an environment value to its output', function () {
    const output = JSON.stringify(d.lines) + d.stderr.join('\n');
    for (const secret of [SECRET, SLACK_PATH, 'xoxSlackToken9f3e', DB_PASSWORD]) expect(output).not.to.include(secret);
  });
});
