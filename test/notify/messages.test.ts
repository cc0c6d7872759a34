/** The pieces of a notification, in-process: which event is sent, recoveries, the signature, the Slack and email texts. */
import { expect } from 'chai';
import type { Execution } from '../../src/jobs/execution.js';
import type { NotifyEvent } from '../../src/jobs/notify-rule.js';
import { emailMessage } from '../../src/notify/email.js';
import { describeTarget, secretsOf, type NotifierConfig } from '../../src/notify/notifier-config.js';
import { eventFor } from '../../src/notify/notification.js';
import { RecoveryTracker } from '../../src/notify/recovery.js';
import { signBody, verifySignature } from '../../src/notify/signature.js';
import { SLACK_LIMITS, slackMessage } from '../../src/notify/slack-format.js';
import type { JobView } from '../../src/service/job-view.js';
import { execution, notification } from './fixtures.js';
import { expectSlackShape } from './slack-shape.js';

describe('notification messages', function () {
  describe('eventFor: one event per notifier, the most specific asked for', function () {
    const cases: Array<[NotifyEvent[], Execution['status'], boolean, NotifyEvent | null]> = [
      [['failure'], 'failure', false, 'failure'],
      [['failure'], 'success', false, null],
      [['success'], 'success', true, 'success'],
      [['recovered', 'success'], 'success', true, 'recovered'],
      [['recovered'], 'success', false, null],
      [['finish'], 'success', false, 'finish'],
      [['finish'], 'failure', false, 'finish'],
      [['finish', 'failure'], 'failure', false, 'failure'],
      [['finish', 'recovered'], 'success', true, 'recovered'],
      [['finish', 'skipped', 'failure', 'success', 'recovered'], 'cancelled', false, null],
      [['skipped'], 'skipped', false, 'skipped'],
      [['finish'], 'skipped', false, null],
    ];
    for (const [wanted, status, recovered, expected] of cases) {
      it(`[${wanted.join(', ')}] for ${status}${recovered ? ' (recovered)' : ''} -> ${expected}`, function () {
        expect(eventFor(new Set(wanted), status, recovered)).to.equal(expected);
      });
    }
  });

  describe('RecoveryTracker', function () {
    it('sees a success after a failure, reading the store first and its own memory when the store has nothing older', function () {
      // Like the store: an execution is recorded before listeners hear it ended; `limit` is history_limit.
      let stored: Execution[] = [execution({ id: 'exec-0001', status: 'failure' })];
      let limit = 100;
      const tracker = new RecoveryTracker((e) => stored.filter((x) => x.id < e.id && (x.status === 'success' || x.status === 'failure')).at(-1));
      const ended = (id: string, status: Execution['status']) => {
        stored = [...stored, execution({ id, status })].slice(-limit);
        return tracker.record(execution({ id, status }));
      };
      // After a restart: the previous outcome comes from the store.
      expect(ended('exec-0002', 'success')).to.equal(true);
      expect(ended('exec-0003', 'success')).to.equal(false);
      expect(ended('exec-0004', 'failure')).to.equal(false);
      expect(ended('exec-0005', 'skipped')).to.equal(false);
      expect(ended('exec-0006', 'cancelled')).to.equal(false);
      expect(ended('exec-0007', 'success')).to.equal(true);
      // history_limit 1: the store has trimmed the failure by the time the success ends; memory still knows it.
      limit = 1;
      expect(ended('exec-0008', 'failure')).to.equal(false);
      expect(ended('exec-0009', 'success')).to.equal(true);
    });
  });

  describe('signature', function () {
    it('is sha256= and the hex HMAC-SHA256 of the body (RFC 4231-style known value)', function () {
      expect(signBody('The quick brown fox jumps over the lazy dog', 'key')).to.equal('sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8');
      expect(verifySignature('{"a":1}', 's3cret', signBody('{"a":1}', 's3cret'))).to.equal(true);
      expect(verifySignature('{"a":1}', 's3cret', signBody('{"a":2}', 's3cret'))).to.equal(false);
      expect(verifySignature('{"a":1}', 's3cret', undefined)).to.equal(false);
    });

    it('answers false, never throws, for a header of the wrong length', function () {
      const right = signBody('{"a":1}', 's3cret');
      for (const header of ['', 'sha256=', right.slice(0, -1), `${right}0`, `${right} `]) {
        expect(verifySignature('{"a":1}', 's3cret', header), JSON.stringify(header)).to.equal(false);
      }
    });
  });

  describe('slackMessage', function () {
    it('has the shape of a Slack incoming webhook, with job, status, duration, exit code, error and links', function () {
      const m = slackMessage(notification());
      expectSlackShape(m);
      expect(m.text).to.equal(':x: Backup DB (backup) failed: exited with code 1 (status failure, duration 1m13s, exit code 1) <https://cron.example.com/api/v1/jobs/backup/executions/exec-0001/log|log>');
      expect(m.blocks[0]).to.deep.equal({ type: 'section', text: { type: 'mrkdwn', text: ':x: *<https://cron.example.com/api/v1/jobs/backup/executions/exec-0001/log|Backup DB (backup)>* failed: exited with code 1' } });
      expect(m.blocks[1]).to.deep.equal({
        type: 'section',
        fields: ['*Status*\nfailure', '*Duration*\n1m13s', '*Exit code*\n1', '*Trigger*\nschedule (slot 2024-05-01T00:00:00.000Z)'].map((text) => ({ type: 'mrkdwn', text })),
      });
      expect(m.blocks[2]).to.deep.equal({ type: 'section', text: { type: 'mrkdwn', text: '*Last lines of output*\n```\nstarting\ndone badly\n```' } });
      expect(m.blocks[3]).to.deep.equal({
        type: 'context',
        elements: [{ type: 'mrkdwn', text: 'execution <https://cron.example.com/api/v1/jobs/backup/executions/exec-0001|exec-0001> · <https://cron.example.com/api/v1/jobs/backup/executions/exec-0001/log|full log>' }],
      });
    });

    it('keeps the last 10 lines, escapes markup, strips terminal colours, and stays within Slack limits', function () {
      const output = `${Array.from({ length: 30 }, (_, i) => `line ${i + 1} <b> & \x1b[31mred\x1b[0m`).join('\n')}\n${'x'.repeat(5000)}\n`;
      const m = slackMessage(notification({ links: null, job: { id: 'backup', name: 'backup' } as JobView }, { output, error: `x${'y'.repeat(4000)}` }));
      expectSlackShape(m);
      const code = (m.blocks[2] as { text: { text: string } }).text.text;
      expect(code).not.to.include('line 21 ');
      expect(code).to.include('line 22 &lt;b&gt; &amp; red');
      expect(code).not.to.include('\x1b');
      expect(code.length).to.be.at.most(SLACK_LIMITS.sectionText);
      expect(JSON.stringify(m)).not.to.include('https://');
      expect(m.text.startsWith(':x: backup failed: xyyy')).to.equal(true);
    });

    it('says recovered, succeeded and was skipped, and leaves out an empty output', function () {
      expect(slackMessage(notification({ event: 'recovered' }, { status: 'success', exit_code: 0, error: null })).text).to.match(/^:large_green_circle: Backup DB \(backup\) recovered \(/);
      expect(slackMessage(notification({ event: 'finish' }, { status: 'success', exit_code: 0, error: null })).text).to.match(/^:white_check_mark: Backup DB \(backup\) succeeded \(/);
      const skipped = slackMessage(notification({ event: 'skipped' }, { status: 'skipped', output: '', duration: null, exit_code: null, error: 'skipped: execution exec-0000 still running' }));
      expectSlackShape(skipped);
      expect(skipped.text).to.match(/^:fast_forward: Backup DB \(backup\) was skipped: skipped: execution exec-0000 still running \(status skipped, duration -, exit code none\)/);
      expect(skipped.blocks.map((b) => b.type)).to.deep.equal(['section', 'section', 'context']);
    });
  });

  describe('multi-step executions', function () {
    it('name the failed step and list the steps in chat and mail', function () {
      const step = (name: string, status: string, reused = false) => ({ name, status, reused }) as unknown as NonNullable<Execution['steps']>[number];
      const n = notification({}, { error: 'step test: exited with code 1', steps: [step('build', 'success', true), step('test', 'failure'), step('deploy', 'skipped')] });
      const slack = slackMessage(n);
      expect(JSON.stringify(slack.blocks)).to.contain('*Failed step*\\ntest');
      expect(slack.text).to.contain('failed: step test: exited with code 1');
      const mail = emailMessage(n);
      expect(mail.text).to.contain('Failed step');
      expect(mail.text).to.contain('Steps');
      expect(mail.text).to.contain('build reused, test failure, deploy skipped');
    });
  });

  describe('emailMessage', function () {
    it('has a subject with the job and what happened, and a body with the facts, links and the log tail', function () {
      const m = emailMessage(notification({}, { output: `${Array.from({ length: 50 }, (_, i) => `row ${i + 1}`).join('\n')}\n`, attempts: [execution().attempts[0]!, execution().attempts[0]!] }));
      expect(m.subject).to.equal('[watchbell] Backup DB (backup) failed');
      expect(m.text).to.equal([
        'Job:       Backup DB (backup)',
        'Event:     failure',
        'Status:    failure',
        'Duration:  1m13s',
        'Exit code: 1',
        'Trigger:   schedule (slot 2024-05-01T00:00:00.000Z)',
        'Attempts:  2',
        'Error:     exited with code 1',
        'Started:   2024-05-01T00:00:00.010Z',
        'Finished:  2024-05-01T00:01:12.510Z',
        'Execution: exec-0001',
        'Details:   https://cron.example.com/api/v1/jobs/backup/executions/exec-0001',
        'Log:       https://cron.example.com/api/v1/jobs/backup/executions/exec-0001/log',
        '',
        'Last lines of output:',
        '',
        ...Array.from({ length: 40 }, (_, i) => `row ${i + 11}`),
        '',
        '-- ',
        'watchbell',
        '',
      ].join('\n'));
    });

    it('keeps a job name with line breaks on one subject line', function () {
      const m = emailMessage(notification({ event: 'recovered', job: { id: 'j', name: 'two\nlines' } as JobView }, { status: 'success' }));
      expect(m.subject).to.equal('[watchbell] two lines (j) recovered');
    });
  });

  describe('secrets of a notifier', function () {
    it('are the URL (and its path and query), the secret, header values (and the credential after their scheme) and the password; /health shows only an origin or host', function () {
      const hook: NotifierConfig = {
        name: 'hook', type: 'webhook', format: 'slack', url: 'https://user:pw-123456@hooks.slack.com/services/T0/B0/tok3n?key=abcd1234', secret: 'sig-secret',
        headers: { Authorization: 'Bearer tok-abcdef' }, timeout: 10, retries: 3,
      };
      expect(secretsOf(hook)).to.have.members([hook.url, '/services/T0/B0/tok3n', 'key=abcd1234', 'pw-123456', 'sig-secret', 'Bearer tok-abcdef', 'tok-abcdef']);
      expect(describeTarget(hook)).to.equal('https://hooks.slack.com');
      const mail: NotifierConfig = { name: 'm', type: 'email', host: 'smtp.example.com', port: 587, tls: 'starttls', user: 'u', password: 'mail-pw', from: 'a@b.c', to: ['d@e.f'], timeout: 10, retries: 3 };
      expect(secretsOf(mail)).to.deep.equal(['mail-pw']);
      expect(describeTarget(mail)).to.equal('smtp://smtp.example.com:587');
    });
  });
});
