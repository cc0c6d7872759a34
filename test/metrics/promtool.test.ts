/**
 * Prometheus' own tools on what we ship: `promtool check metrics` on a real daemon's /metrics, and the alert
 * rules in deploy/prometheus/ checked and unit-tested with `promtool test rules`.
 * promtool comes with Debian's `prometheus` package. In CI (CI=true) a missing promtool fails these tests.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { configText, removeDir, ROOT, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';

const RULES_DIR = join(ROOT, 'deploy', 'prometheus');

/** Runs promtool with `input` on stdin; resolves with its exit code and output. */
function promtool(args: string[], input = ''): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', args, { cwd: RULES_DIR, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(input);
  });
}

describe('promtool (Prometheus tools)', function () {
  this.timeout(60_000);

  before(function () {
    if (spawnSync('promtool', ['--version']).error === undefined) return;
    if (process.env.CI === 'true') throw new Error('promtool is missing: install the Debian package "prometheus"');
    console.warn('    !!! SKIPPED: promtool is not installed (Debian package "prometheus"); these tests fail in CI');
    this.skip();
  });

  describe('check metrics on a real daemon', function () {
    let d: DaemonProcess;

    before(async function () {
      const notifiers = 'notifiers:\n  ops-hook:\n    type: webhook\n    url: http://127.0.0.1:9/hook\n';
      d = await startDaemon({ config: configText('  ok:\n    schedule: "@yearly"\n    command: "true"\n  broken:\n    schedule: "@yearly"\n    command: exit 3\n', notifiers) });
    });

    after(async function () {
      await d.stop();
      await removeDir(d.dir);
    });

    it('passes the lint, with executions, a notifier and the process metrics in it', async function () {
      for (const job of ['ok', 'broken']) await d.finished((await d.api('POST', `/api/v1/jobs/${job}/run`)).body.data.execution_id);
      const res = await d.api('GET', '/metrics');
      expect(res.text).to.include('watchbell_notifications_total{notifier="ops-hook"').and.include('nodejs_active_handles');
      const lint = await promtool(['check', 'metrics'], res.text);
      expect(lint.output).to.equal('');
      expect(lint.code).to.equal(0);
    });
  });

  it('finds the shipped alert rules valid', async function () {
    const check = await promtool(['check', 'rules', 'watchbell-rules.yml']);
    expect(check.code, check.output).to.equal(0);
  });

  it('passes the unit tests of the shipped alert rules', async function () {
    const test = await promtool(['test', 'rules', 'watchbell-rules.test.yml']);
    expect(test.code, test.output).to.equal(0);
  });
});
