/** The config examples in docs/notifications.md are valid configs, as `watchbell validate` would read them. */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load-config.js';
import { ROOT } from '../helpers/daemon-process.js';

describe('docs/notifications.md', function () {
  const lines = readFileSync(join(ROOT, 'docs/notifications.md'), 'utf8').split('\n');
  const configs: Array<{ line: number; text: string }> = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```yaml' || lines[i + 1] !== 'version: 1') continue;
    const start = i + 1;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
    configs.push({ line: start, text: body.join('\n') });
  }

  it('has a config with a webhook, a Slack and an email notifier', function () {
    expect(configs).to.have.length.at.least(1);
  });

  for (const { line, text } of configs) {
    it(`docs/notifications.md:${line} is a valid config`, function () {
      const env = { WATCHBELL_WEBHOOK_SECRET: 'x', HOOKS_TOKEN: 'y', SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/z', SMTP_PASSWORD: 'p' };
      const config = parseConfig(text, join(ROOT, 'config', 'example.yaml'), { env, displayName: `docs/notifications.md:${line}` });
      expect(Object.values(config.notifiers).map((n) => (n.type === 'webhook' ? n.format : n.type)).sort()).to.deep.equal(['email', 'json', 'slack']);
      expect(config.jobs.length).to.be.greaterThan(0);
    });
  }
});
