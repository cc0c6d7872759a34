/**
 * Black-box: email notifications from the real daemon to a real SMTP server in the test (smtp-server): login,
 * envelope, subject and body; a transient 4xx is retried, a refused login is not.
 */
import { expect } from 'chai';
import { configText, removeDir, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { startMailServer, type MailServer } from './peers.js';

const PASSWORD = 'smtp-pw-3e9c51f2a7-hush';

/** The decoded text of a simple mail (nodemailer writes quoted-printable when lines are long or not ASCII). */
function bodyOf(raw: string): string {
  const body = raw.slice(raw.search(/\r?\n\r?\n/)).trimStart();
  return body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))).replace(/\r\n/g, '\n');
}

function header(raw: string, name: string): string | undefined {
  const head = raw.slice(0, raw.search(/\r?\n\r?\n/)).replace(/\r?\n[ \t]+/g, ' ');
  return new RegExp(`^${name}: (.*)$`, 'im').exec(head)?.[1]?.trim();
}

describe('email notifications (black-box)', function () {
  let d: DaemonProcess;
  let smtp: MailServer;

  before(async function () {
    smtp = await startMailServer({ user: 'watchbell', password: PASSWORD, rejectFirst: true });
    const notifiers =
      'notifiers:\n' +
      `  mail:\n    type: email\n    host: 127.0.0.1\n    port: ${smtp.port}\n    tls: none\n    user: watchbell\n    password: \${SMTP_PASSWORD}\n` +
      '    from: Watchbell <watchbell@example.com>\n    to: [ops@example.com, oncall@example.com]\n' +
      `  badlogin:\n    type: email\n    host: 127.0.0.1\n    port: ${smtp.port}\n    tls: none\n    user: watchbell\n    password: wrong-password\n` +
      '    from: watchbell@example.com\n    to: ops@example.com\n' +
      `  needtls:\n    type: email\n    host: 127.0.0.1\n    port: ${smtp.port}\n    from: watchbell@example.com\n    to: ops@example.com\n`;
    const jobs =
      '  nightly-backup:\n    name: Nightly backup\n    schedule: "@yearly"\n' +
      `    command: 'for i in $(seq 1 60); do echo "copied part $i"; done; echo "pg_dump: connection refused" >&2; exit 2'\n` +
      '    notify:\n      - notifier: mail\n        events: [failure]\n      - notifier: badlogin\n        events: [failure]\n      - notifier: needtls\n';
    d = await startDaemon({ config: configText(jobs, notifiers), env: { SMTP_PASSWORD: PASSWORD } });
  });

  after(async function () {
    const exit = await d?.stop();
    await smtp?.close();
    if (d) await removeDir(d.dir);
    expect(exit?.code).to.equal(0);
  });

  it('mails the job, status, facts and log tail, after a greylisting 451 on the first attempt', async function () {
    const res = await d.api('POST', '/api/v1/jobs/nightly-backup/run');
    const eid = res.body.data.execution_id as string;
    const [mail] = await smtp.received(1);
    expect(mail!.user).to.equal('watchbell');
    expect(mail!.from).to.equal('watchbell@example.com');
    expect(mail!.to).to.deep.equal(['ops@example.com', 'oncall@example.com']);
    expect(header(mail!.raw, 'Subject')).to.equal('[watchbell] Nightly backup (nightly-backup) failed');
    expect(header(mail!.raw, 'X-Watchbell-Event')).to.equal('failure');
    const body = bodyOf(mail!.raw);
    expect(body).to.match(/^Job: +Nightly backup \(nightly-backup\)$/m);
    expect(body).to.match(/^Status: +failure$/m);
    expect(body).to.match(/^Exit code: +2$/m);
    expect(body).to.match(/^Error: +exited with code 2$/m);
    expect(body).to.match(/^Duration: +[\d.]+s$/m);
    expect(body).to.match(new RegExp(`^Execution: +${eid}$`, 'm'));
    expect(body).to.include('Last lines of output:').and.include('copied part 60').and.include('pg_dump: connection refused');
    expect(body, 'only the tail').not.to.match(/copied part 1$/m);

    const retry = await d.waitFor((l) => l.event === 'notify.retry' && l.notifier === 'mail');
    expect(retry).to.include({ attempt: 1, status_code: 451, error_code: 'SMTP_TRANSIENT', notifier_type: 'email' });
    expect(await d.waitFor((l) => l.event === 'notify.sent' && l.notifier === 'mail')).to.include({ attempt: 2, status_code: 250 });
  });

  it('gives up at once when the server refuses the login, and shows why in /health', async function () {
    const failed = await d.waitFor((l) => l.event === 'notify.failed' && l.notifier === 'badlogin');
    expect(failed).to.include({ attempt: 1, error_code: 'SMTP_REJECTED', status_code: 535 });
    const health = (await d.api('GET', '/health')).body;
    expect(health.notifiers.badlogin).to.include({ type: 'email', target: `smtp://127.0.0.1:${smtp.port}`, failed: 1 });
    expect(health.notifiers.badlogin.last_error.status).to.equal(535);
    expect(health.notifiers.mail).to.include({ sent: 1 });
    expect(health.notifiers.mail.last_error).to.include({ status: 451 });
  });

  it('refuses to send in clear text when STARTTLS is required (the default) and the server does not offer it', async function () {
    const failed = await d.waitFor((l) => l.event === 'notify.failed' && l.notifier === 'needtls');
    expect(failed).to.include({ attempt: 1, error_code: 'SMTP_TLS' });
    expect(smtp.mails).to.have.length(1);
  });

  it('never writes the SMTP password to its output', function () {
    expect(JSON.stringify(d.lines) + d.stderr.join('\n')).not.to.include(PASSWORD).and.not.include('wrong-password');
  });
});
