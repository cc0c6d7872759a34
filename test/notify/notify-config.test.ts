/** `notifiers:`, `notify:` and `daemon.public_url` in the config file: what is accepted, defaults, and each error with its place. */
import { expect } from 'chai';
import { ConfigError, parseConfig, type LoadOptions } from '../../src/config/load-config.js';

const FILE = '/etc/watchbell/watchbell.yaml';
const ENV: LoadOptions = { env: { SLACK_URL: 'https://hooks.slack.com/services/T0/B0/tok3n', SMTP_PASSWORD: 'smtp-pw' } };
const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;

function problems(text: string): string[] {
  try {
    parseConfig(text, FILE, ENV);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as ConfigError).message.split('\n');
  }
  return expect.fail('the config was accepted');
}

const NOTIFIERS = [
  'notifiers:',
  '  ops-slack:',
  '    type: webhook',
  '    format: slack',
  '    url: ${SLACK_URL}',
  '  ops-mail:',
  '    type: email',
  '    host: smtp.example.com',
  '    user: watchbell',
  '    password: ${SMTP_PASSWORD}',
  '    from: watchbell@example.com',
  '    to: ops@example.com',
];

describe('notifiers and notify in the config', function () {
  it('reads notifiers with their defaults, and notify lists with default events, merged from defaults:', function () {
    const config = parseConfig(yaml(
      'version: 1',
      'daemon:',
      '  public_url: https://cron.example.com/',
      ...NOTIFIERS,
      '  hook:',
      '    type: webhook',
      '    url: https://example.com/hook',
      '    secret: s3cret',
      '    headers:',
      '      Authorization: Bearer abc',
      '    timeout: 30s',
      '    retries: 0',
      'defaults:',
      '  notify:',
      '    - notifier: ops-slack',
      'jobs:',
      '  a:',
      '    schedule: "@daily"',
      '    command: "true"',
      '  b:',
      '    schedule: "@daily"',
      '    command: "true"',
      '    notify:',
      '      - notifier: ops-mail',
      '        events: [failure, skipped]',
      '      - notifier: hook',
      '        events: [finish]',
      '  c:',
      '    schedule: "@daily"',
      '    command: "true"',
      '    notify: []',
    ), FILE, ENV);
    expect(config.daemon.public_url).to.equal('https://cron.example.com');
    expect(config.notifiers).to.deep.equal({
      'ops-slack': { name: 'ops-slack', type: 'webhook', format: 'slack', url: 'https://hooks.slack.com/services/T0/B0/tok3n', secret: null, headers: {}, timeout: 10, retries: 3 },
      'ops-mail': {
        name: 'ops-mail', type: 'email', host: 'smtp.example.com', port: 587, tls: 'starttls', user: 'watchbell', password: 'smtp-pw',
        from: 'watchbell@example.com', to: ['ops@example.com'], timeout: 10, retries: 3,
      },
      hook: { name: 'hook', type: 'webhook', format: 'json', url: 'https://example.com/hook', secret: 's3cret', headers: { Authorization: 'Bearer abc' }, timeout: 30, retries: 0 },
    });
    const notify = Object.fromEntries(config.jobs.map((j) => [j.id, j.spec.notify]));
    expect(notify).to.deep.equal({
      a: [{ notifier: 'ops-slack', events: ['failure', 'recovered'] }],
      b: [{ notifier: 'ops-mail', events: ['failure', 'skipped'] }, { notifier: 'hook', events: ['finish'] }],
      c: [],
    });
  });

  it('takes port 465 for implicit TLS, and a job without notify has none', function () {
    const config = parseConfig(yaml(
      'version: 1',
      'notifiers:',
      '  m:',
      '    type: email',
      '    host: smtp.example.com',
      '    tls: implicit',
      '    from: Watchbell <watchbell@example.com>',
      '    to: [a@example.com, b@example.com]',
      'jobs:',
      '  a:',
      '    schedule: "@daily"',
      '    command: "true"',
    ), FILE, ENV);
    expect(config.notifiers.m).to.include({ port: 465, tls: 'implicit', user: null, password: null });
    expect(config.jobs[0]!.spec.notify).to.deep.equal([]);
  });

  it('names the field of a job naming an undeclared notifier, and of defaults: once', function () {
    expect(problems(yaml(
      'version: 1',
      ...NOTIFIERS,
      'defaults:',
      '  notify:',
      '    - notifier: pager',
      'jobs:',
      '  backup:',
      '    schedule: "@daily"',
      '    command: "true"',
      '    notify:',
      '      - notifier: ops-slack',
      '      - notifier: ops-slak',
      '        events: [failure]',
      '  other:',
      '    schedule: "@daily"',
      '    command: "true"',
    ))).to.deep.equal([
      `${FILE}:16:17: defaults.notify.0.notifier: "pager" is not a declared notifier; expected one of "ops-mail", "ops-slack" (declared under notifiers: in the config file)`,
      `${FILE}:23:19: jobs.backup.notify.1.notifier: "ops-slak" is not a declared notifier; expected one of "ops-mail", "ops-slack" (declared under notifiers: in the config file)`,
    ]);
  });

  it('says so when no notifier is declared at all', function () {
    expect(problems(yaml('version: 1', 'jobs:', '  a:', '    schedule: "@daily"', '    command: "true"', '    notify: [{notifier: ops}]'))).to.deep.equal([
      `${FILE}:6:25: jobs.a.notify.0.notifier: "ops" is not a declared notifier; expected the name of a notifier declared under notifiers: in the config file, and none is declared`,
    ]);
  });

  it('checks notify entries against their schema', function () {
    expect(problems(yaml(
      'version: 1',
      ...NOTIFIERS,
      'jobs:',
      '  a:',
      '    schedule: "@daily"',
      '    command: "true"',
      '    notify:',
      '      - notifier: ops-mail',
      '        events: [failed]',
      '        on: [failure]',
    ))).to.deep.equal([
      `${FILE}:20:18: jobs.a.notify.0.events.0: "failed" is invalid; expected a list of at most 20 entries {notifier: NAME, events: [...]}, events among failure, success, finish, recovered, skipped (default: failure, recovered)`,
      `${FILE}:21:9: jobs.a.notify.0.on: unknown field; expected one of notifier, events`,
    ]);
  });

  it('reports what each notifier type lacks or does not take, never showing a URL, secret or password', function () {
    const lines = problems(yaml(
      'version: 1',
      'notifiers:',
      '  a:',
      '    type: webhook',
      '    host: smtp.example.com',
      '  b:',
      '    type: webhook',
      '    url: ftp://user:hunter2@example.com/x',
      '  c:',
      '    type: email',
      '    host: smtp.example.com',
      '    password: hunter3',
      '    from: nobody',
      '    url: https://example.com/token-abc',
      '  d:',
      '    type: pager',
      '    url: 42',
      '    timeout: 10m',
      '  e:',
      '    type: webhook',
      '    url: https://example.com',
      '    timeout: 10m',
      'jobs: {}',
    ));
    expect(lines).to.deep.equal([
      `${FILE}:4:5: notifiers.a.url: is required for a webhook notifier`,
      `${FILE}:5:5: notifiers.a.host: not allowed in a webhook notifier; it belongs to type email`,
      `${FILE}:8:10: notifiers.b.url: (a secret value, not shown) is invalid; expected an http:// or https:// URL`,
      `${FILE}:10:5: notifiers.c.to: is required for an email notifier`,
      `${FILE}:12:15: notifiers.c.password: is set without user; add user, the login that goes with it`,
      `${FILE}:13:11: notifiers.c.from: "nobody" is not an email address; expected an email address such as watchbell@example.com`,
      `${FILE}:14:5: notifiers.c.url: not allowed in an email notifier; it belongs to type webhook`,
      `${FILE}:16:11: notifiers.d.type: "pager" is invalid; expected one of "webhook", "email"`,
      `${FILE}:17:10: notifiers.d.url: (a secret value, not shown) is invalid; expected an http:// or https:// URL`,
      `${FILE}:22:14: notifiers.e.timeout: 600s is out of range; expected a duration from 1s to 5m: integer seconds or a string such as "10s"`,
    ]);
    expect(lines.join('\n')).not.to.match(/hunter|token-abc/);
  });

  it('refuses a daemon.public_url that is not an http(s) URL', function () {
    expect(problems(yaml('version: 1', 'daemon:', '  public_url: cron.example.com', 'jobs: {}'))).to.deep.equal([
      `${FILE}:3:15: daemon.public_url: "cron.example.com" is invalid; expected an http:// or https:// URL such as "https://cron.example.com"`,
    ]);
  });
});
