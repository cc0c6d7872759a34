/** The CLI as a subprocess: validate, next, help, and the client verbs against a real daemon. */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BIN, ROOT, removeDir, startWithJobs, tempDir } from '../helpers/daemon-process.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('watchbell CLI', function () {
  let dir: string;
  before(async function () {
    dir = await tempDir();
  });
  after(async function () {
    await removeDir(dir);
  });

  describe('validate', function () {
    it('accepts the shipped example config with a one-line summary', async function () {
      const r = await cli(['validate', 'config/watchbell.yaml']);
      expect(r.stderr).to.equal('');
      expect(r.code).to.equal(0);
      expect(r.stdout).to.equal('config/watchbell.yaml: OK (3 jobs)\n');
    });

    it('prints every error as FILE:LINE:COL: message and exits 1', async function () {
      const file = join(dir, 'bad.yaml');
      await writeFile(file, [
        'version: 1',
        'jobs:',
        '  backup:',
        '    schedule: "*/0 * * * *"',
        '    command: pg_dump mydb',
        '    retries: lots',
        '  report:',
        '    schedule: "@daily"',
        '    command: echo hi',
        '    colour: red',
        '',
      ].join('\n'));
      const r = await cli(['validate', file]);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.equal('');
      expect(r.stderr.trimEnd().split('\n')).to.deep.equal([
        `${file}:4:15: jobs.backup.schedule: "*/0 * * * *" is not a cron expression: syntax error, illegal stepping: 0; expected a cron expression, @daily-style macro, "@every <duration>" or ISO-8601 instant`,
        `${file}:6:14: jobs.backup.retries: "lots" is invalid; expected an integer from 0 to 100`,
        `${file}:10:5: jobs.report.colour: unknown field; expected one of id, name, schedule, timezone, command, tags, timeout, retries, retry_delay, environment, working_directory, concurrency, catch_up, starting_deadline, history_limit, max_output, user, notify, container, status`,
      ]);
    });

    it('reports YAML syntax errors with their position, and every file given', async function () {
      const broken = join(dir, 'broken.yaml');
      await writeFile(broken, 'version: 1\njobs:\n  x: [unclosed\n');
      const r = await cli(['validate', 'config/watchbell.yaml', broken]);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.include('config/watchbell.yaml: OK');
      expect(r.stderr).to.match(new RegExp(`^${broken}:\\d+:\\d+: invalid YAML: `));
    });

    it('names a missing file', async function () {
      const r = await cli(['validate', join(dir, 'nope.yaml')]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(`${join(dir, 'nope.yaml')}:1:1: cannot read config: no such file\n`);
    });
  });

  describe('next', function () {
    it('prints n run times in the time zone, one a line', async function () {
      const r = await cli(['next', '30 2 * * *', '--timezone', 'Europe/Berlin', '-n', '3']);
      expect(r.code).to.equal(0);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines).to.have.length(3);
      for (const l of lines) expect(l).to.match(/^\d{4}-\d\d-\d\dT0[01]:30:00\.000Z$/);
    });

    it('explains an invalid expression and exits 1', async function () {
      const r = await cli(['next', '*/0 * * * *']);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal('"*/0 * * * *" is not a cron expression: syntax error, illegal stepping: 0\n');
    });

    it('rejects a bad -n with usage exit 2', async function () {
      const r = await cli(['next', '@daily', '-n', 'many']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('-n many: expected an integer from 1 to 1000');
    });
  });

  it('shows help with examples, and exits 2 for an unknown command', async function () {
    const help = await cli(['--help']);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.include('Examples:').and.include('watchbell validate');
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.include('unknown command "frobnicate"');
  });

  it('drives a running daemon: jobs, run, pause, resume, logs', async function () {
    const d = await startWithJobs('  hello:\n    schedule: "@daily"\n    command: echo hello from the cli\n');
    try {
      const env = { WATCHBELL_URL: d.url };
      const jobs = await cli(['jobs'], env);
      expect(jobs.code).to.equal(0);
      expect(jobs.stdout).to.match(/^ID\s+STATUS\s+SCHEDULE\s+NEXT RUN\s+LAST\nhello\s+active\s+@daily\s+\S+Z\s+-\n$/);
      const run = await cli(['run', 'hello'], env);
      expect(run.code).to.equal(0);
      const eid = /execution (exec-[0-9a-z]+)/.exec(run.stdout)![1]!;
      await d.finished(eid);
      const logs = await cli(['logs', 'hello', eid], env);
      expect(logs.stdout).to.equal('hello from the cli\n');
      const tail = await cli(['logs', 'hello', '--tail', '1'], env);
      expect(tail.stdout).to.equal('hello from the cli\n');
      expect((await cli(['pause', 'hello'], env)).stdout).to.equal('Job paused successfully\n');
      expect((await cli(['resume', 'hello'], env)).stdout).to.match(/^Job resumed successfully \(next run \S+\)\n$/);
      const missing = await cli(['run', 'nope'], env);
      expect(missing.code).to.equal(1);
      expect(missing.stderr).to.equal('watchbell: 404: no job with id "nope"\n');
    } finally {
      await d.stop();
      await removeDir(d.dir);
    }
  });
});
