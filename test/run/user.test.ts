/**
 * `user:` on a job: run its command as another user when the daemon runs as root. Parsing /etc/passwd is
 * tested everywhere; switching users needs root, so those tests skip loudly when the tests do not run as root.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { chown, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lookupUser, parsePasswd, readPasswd } from '../../src/jobs/system-user.js';
import { runAttempt, type AttemptResult } from '../../src/run/command.js';
import {
  BIN,
  configText,
  DaemonProcess,
  removeDir,
  startWithJobs,
  tempDir as daemonDir,
} from '../helpers/daemon-process.js';
import { memorySink, type MemorySink } from './helpers.js';

const IS_ROOT = process.getuid?.() === 0;
const nobody = lookupUser('nobody');

/** Skips a test that needs root (or a `nobody` user), saying so on the console so a green run cannot hide it. */
function needsRoot(ctx: Mocha.Context): void {
  if (!IS_ROOT || !nobody) {
    const why = !IS_ROOT ? `the tests run as uid ${process.getuid?.()}, not root` : 'this system has no user "nobody"';
    console.warn(`    !!! SKIPPED "${ctx.test?.title}": switching users needs root and a "nobody" user; ${why}`);
    ctx.skip();
  }
}

describe('job user: /etc/passwd lookup', () => {
  const passwd = parsePasswd(
    [
      '# comment',
      'root:x:0:0:root:/root:/bin/bash',
      'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
      'backup:x:34:34:backup:/var/backups:/usr/sbin/nologin',
      '+@netgroup::::::',
      'broken:x:notanumber:1:::',
      'short:x:1:1',
      '',
    ].join('\n'),
  );

  it('parses entries and skips comments, NIS lines and malformed lines', () => {
    expect(passwd.map((e) => e.name)).to.deep.equal(['root', 'nobody', 'backup']);
    expect(passwd[2]).to.deep.equal({ name: 'backup', uid: 34, gid: 34, home: '/var/backups' });
  });

  it('finds a user by name', () => {
    expect(lookupUser('nobody', passwd)).to.deep.equal({ name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent' });
  });

  it('takes a numeric uid, as a number or digits, with its entry when there is one', () => {
    expect(lookupUser(34, passwd)).to.deep.equal({ name: 'backup', uid: 34, gid: 34, home: '/var/backups' });
    expect(lookupUser('34', passwd)).to.deep.equal({ name: 'backup', uid: 34, gid: 34, home: '/var/backups' });
  });

  it('reads the uid -0 (valid JSON, and within the schema\'s minimum 0) as 0, which spawn accepts', () => {
    const root = lookupUser(-0, passwd)!;
    expect(Object.is(root.uid, 0), String(root.uid)).to.equal(true);
    expect(Object.is(root.gid, 0)).to.equal(true);
  });

  it('gives an unlisted uid a gid equal to the uid, never root\'s group', () => {
    expect(lookupUser(4242, passwd)).to.deep.equal({ name: null, uid: 4242, gid: 4242, home: null });
  });

  it('returns null for an unknown name', () => {
    expect(lookupUser('no-such-user', passwd)).to.equal(null);
  });

  it('reads the real /etc/passwd', () => {
    expect(readPasswd().some((e) => e.uid === 0)).to.equal(true);
  });
});

describe('job user: runAttempt as another user', function () {
  let sink: MemorySink;
  beforeEach(() => {
    sink = memorySink();
  });

  function run(command: string, user: string | number | null): Promise<AttemptResult> {
    return runAttempt({
      command,
      environment: { FROM_JOB: 'yes' },
      workingDirectory: null,
      timeoutMs: 10_000,
      killGraceMs: 500,
      log: sink,
      signal: new AbortController().signal,
      user,
    });
  }

  it('runs as nobody: its uid and gid, no supplementary groups, its HOME and USER; job variables still set', async function () {
    needsRoot(this);
    const r = await run('id -u; id -g; id -G; echo "$HOME $USER $LOGNAME $FROM_JOB"', 'nobody');
    expect(r.error, sink.text()).to.equal(null);
    expect(sink.text('stdout')).to.equal(`${nobody!.uid}\n${nobody!.gid}\n${nobody!.gid}\n${nobody!.home} nobody nobody yes\n`);
    expect(nobody!.uid).to.equal(65534);
  });

  it('runs as a numeric uid', async function () {
    needsRoot(this);
    const r = await run('id -u', nobody!.uid);
    expect(r.error).to.equal(null);
    expect(sink.text('stdout')).to.equal(`${nobody!.uid}\n`);
  });

  it('runs as uid -0 (root) instead of aborting the daemon (a fuzz finding: Node asserts uid_v->IsInt32())', async function () {
    needsRoot(this);
    const r = await run('id -u', -0);
    expect(r.error).to.equal(null);
    expect(sink.text('stdout')).to.equal('0\n');
  });

  it('runs as the daemon\'s user with user null', async function () {
    const r = await run('id -u', null);
    expect(r.error).to.equal(null);
    expect(sink.text('stdout')).to.equal(`${process.getuid!()}\n`);
  });

  it('fails the attempt (spawn_error) when the user no longer exists', async function () {
    needsRoot(this);
    const r = await run('id -u', 'gone-user-xyz');
    expect(r).to.include({ reason: 'spawn_error', exit_code: null, error: 'cannot run as user "gone-user-xyz": no such user in /etc/passwd' });
    expect(sink.text('stdout')).to.equal('');
  });

  it('fails the attempt when the daemon is not root', async function () {
    if (IS_ROOT) {
      console.warn(`    !!! SKIPPED "${this.test?.title}": the tests run as root (the daemon-as-nobody test below covers it)`);
      this.skip();
    }
    const r = await run('id -u', 'nobody');
    expect(r.reason).to.equal('spawn_error');
    expect(r.error).to.match(/not root/);
  });
});

describe('job user: through the API (black-box)', function () {
  this.timeout(60_000);
  let d: DaemonProcess | undefined;

  afterEach(async () => {
    if (!d) return;
    const exit = await d.stop();
    await removeDir(d.dir);
    d = undefined;
    expect(exit.code).to.equal(0);
  });

  async function runAndLog(daemon: DaemonProcess, id: string): Promise<{ status: string; stdout: string }> {
    const run = await daemon.api('POST', `/api/v1/jobs/${id}/run`);
    expect(run.status, run.text).to.equal(202);
    const eid = run.body.data.execution_id as string;
    await daemon.finished(eid);
    const exec = await daemon.api('GET', `/api/v1/jobs/${id}/executions/${eid}`);
    const log = await daemon.api('GET', `/api/v1/jobs/${id}/executions/${eid}/log?stream=stdout`);
    return { status: exec.body.data.status, stdout: log.text };
  }

  it('a job with user: nobody runs `id -u` as 65534; its log is written by the daemon', async function () {
    needsRoot(this);
    d = await startWithJobs('  {}\n');
    const created = await d.api('POST', '/api/v1/jobs', { id: 'as-nobody', schedule: '@yearly', command: 'id -u', user: 'nobody' });
    expect(created.status, created.text).to.equal(201);
    expect(created.body.data.user).to.equal('nobody');
    const { status, stdout } = await runAndLog(d, 'as-nobody');
    expect(status).to.equal('success');
    expect(stdout).to.equal('65534\n');
    // The daemon, not the job's process, owns the execution's files.
    const logDir = join(d.dataDir, 'jobs');
    expect((await stat(logDir)).uid).to.equal(0);

    // user: null runs it as the daemon's user again.
    const put = await d.api('PUT', '/api/v1/jobs/as-nobody', { user: null });
    expect(put.status, put.text).to.equal(200);
    expect(put.body.data.user).to.equal(null);
    expect((await runAndLog(d, 'as-nobody')).stdout).to.equal('0\n');
  });

  it('an unknown user is a 400 that names it', async function () {
    needsRoot(this);
    d = await startWithJobs('  {}\n');
    const res = await d.api('POST', '/api/v1/jobs', { schedule: '@yearly', command: 'true', user: 'no-such-user-xyz' });
    expect(res.status, res.text).to.equal(400);
    expect(res.body.error.code).to.equal('VALIDATION_FAILED');
    expect(res.body.error.message).to.equal('user: no user "no-such-user-xyz" in /etc/passwd; expected a user name or numeric uid from /etc/passwd, or null for the daemon\'s own user');
    expect(res.body.error.details.map((x: { path: string }) => x.path)).to.deep.equal(['/user']);
    const bad = await d.api('POST', '/api/v1/jobs', { schedule: '@yearly', command: 'true', user: '../../etc' });
    expect(bad.status, bad.text).to.equal(400);
    expect(bad.body.error.details.map((x: { path: string }) => x.path)).to.deep.equal(['/user']);
  });

  it('a daemon that is not root answers 400 for user:, saying why', async function () {
    needsRoot(this); // to start a daemon as nobody, the tests must be root
    const dir = await daemonDir();
    await writeFile(join(dir, 'watchbell.yaml'), configText('  {}\n'));
    await chown(dir, nobody!.uid, nobody!.gid);
    const proc = spawn(process.execPath, [BIN, 'daemon', '--config', join(dir, 'watchbell.yaml')], {
      cwd: dir,
      uid: nobody!.uid,
      gid: nobody!.gid,
      env: { ...process.env, HOME: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    d = new DaemonProcess(proc, dir);
    d.url = String((await d.waitFor((l) => l.event === 'daemon.started', 20_000)).url);
    const res = await d.api('POST', '/api/v1/jobs', { schedule: '@yearly', command: 'true', user: 'nobody' });
    expect(res.status, res.text).to.equal(400);
    expect(res.body.error.message).to.equal(
      `user: "nobody" cannot be used: running a job as another user needs a daemon running as root, and this one runs as uid ${nobody!.uid}; remove user (or set it to null), or run the daemon as root`,
    );
    // Without user: the same job is fine.
    expect((await d.api('POST', '/api/v1/jobs', { schedule: '@yearly', command: 'true' })).status).to.equal(201);
  });
});
