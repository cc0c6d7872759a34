/**
 * Black-box: multi-step jobs (DESIGN.md §9) on the real daemon: steps in order with outputs passed on,
 * `if:` after a failure, per-step attempts and timeouts, and one step's part of the log.
 */
import WebSocket from 'ws';
import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeDir, startWithJobs, type DaemonProcess } from '../helpers/daemon-process.js';

describe('multi-step jobs (black-box)', function () {
  this.timeout(60_000);
  const cleanup: DaemonProcess[] = [];
  afterEach(async function () {
    while (cleanup.length) {
      const d = cleanup.pop()!;
      await d.stop();
      await removeDir(d.dir);
    }
  });

  async function start(jobsYaml: string): Promise<DaemonProcess> {
    const d = await startWithJobs(jobsYaml);
    cleanup.push(d);
    return d;
  }

  async function runAndWait(d: DaemonProcess, job: string, body?: unknown): Promise<any> {
    const run = await d.api('POST', `/api/v1/jobs/${job}/run`, body);
    expect(run.status, run.text).to.equal(202);
    const id = run.body.data.execution_id as string;
    await d.finished(id, 30_000);
    return (await d.api('GET', `/api/v1/jobs/${job}/executions/${id}`)).body.data;
  }

  const PIPELINE =
    '  pipe:\n' +
    '    environment: {GREETING: hello}\n' +
    '    steps:\n' +
    '      - name: build\n' +
    '        command: echo "built"; echo "artifact=/tmp/a b.tar" >> "$WATCHBELL_OUTPUT"; printf "notes<<EOF\\nline 1\\nline 2\\nEOF\\n" >> "$WATCHBELL_OUTPUT"\n' +
    '      - name: test\n' +
    '        command: echo "testing $WATCHBELL_STEP_BUILD_ARTIFACT"; test "$FAIL" != 1\n' +
    '        environment: {FAIL: "0"}\n' +
    '      - name: deploy\n' +
    '        command: echo "deploying $WATCHBELL_STEP_BUILD_ARTIFACT with $GREETING"; echo "$WATCHBELL_STEP_BUILD_NOTES"\n' +
    '      - name: cleanup\n' +
    '        if: failure\n' +
    '        command: echo "cleaning up after failure"\n';

  it('runs the steps in order, passing step 1\'s outputs to step 3, and records each step', async function () {
    const d = await start(PIPELINE);
    const e = await runAndWait(d, 'pipe');
    expect(e.status, JSON.stringify(e)).to.equal('success');
    expect(e.steps.map((s: any) => [s.name, s.status])).to.deep.equal([['build', 'success'], ['test', 'success'], ['deploy', 'success'], ['cleanup', 'skipped']]);
    expect(e.steps[0].outputs).to.deep.equal({ artifact: '/tmp/a b.tar', notes: 'line 1\nline 2' });
    expect(e.steps[0].attempts).to.have.length(1);
    expect(e.steps[0].reused).to.equal(false);
    expect(e.steps[3].started_at).to.equal(null);
    const deploy = await d.api('GET', `/api/v1/jobs/pipe/executions/${e.id}/log?step=deploy`);
    expect(deploy.status).to.equal(200);
    expect(deploy.text).to.equal('--- step deploy: attempt 1 of 1 ---\ndeploying /tmp/a b.tar with hello\nline 1\nline 2\n');
    const tail = await d.api('GET', `/api/v1/jobs/pipe/executions/${e.id}/log?step=deploy&stream=stdout&tail=1`);
    expect(tail.text).to.equal('line 2\n');
    const whole = await d.api('GET', `/api/v1/jobs/pipe/executions/${e.id}/log`);
    expect(whole.text).to.contain('--- step build: attempt 1 of 1 ---\nbuilt\n--- step test: attempt 1 of 1 ---\ntesting /tmp/a b.tar\n');
    const none = await d.api('GET', `/api/v1/jobs/pipe/executions/${e.id}/log?step=nope`);
    expect(none.status).to.equal(200);
    expect(none.text).to.equal('');
  });

  it('after a failed step skips the `if: success` steps, runs the `if: failure` one, and takes status and error from the failed step', async function () {
    const d = await start(PIPELINE.replace('FAIL: "0"', 'FAIL: "1"'));
    const e = await runAndWait(d, 'pipe');
    expect(e.status).to.equal('failure');
    expect(e.reason).to.equal('exit');
    expect(e.exit_code).to.equal(1);
    expect(e.error).to.equal('step test: exited with code 1');
    expect(e.steps.map((s: any) => s.status)).to.deep.equal(['success', 'failure', 'skipped', 'success']);
    expect(e.steps[2].error).to.equal('skipped: step test failed');
    const cleanup = await d.api('GET', `/api/v1/jobs/pipe/executions/${e.id}/log?step=cleanup`);
    expect(cleanup.text).to.contain('cleaning up after failure');
  });

  it('retries a step on its own, with its own timeout, and goes on past a step with continue_on_error', async function () {
    const d = await start(
      '  flaky:\n' +
      '    retry_delay: 0\n' +
      '    steps:\n' +
      '      - name: once\n' +
      '        command: echo once\n' +
      '      - name: retried\n' +
      '        retries: 2\n' +
      '        command: n=$(cat "$TMPDIR_COUNT" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$TMPDIR_COUNT"; test $n -ge 3\n' +
      '        environment: {TMPDIR_COUNT: ./count}\n' +
      '      - name: slow\n' +
      '        timeout: 1s\n' +
      '        continue_on_error: true\n' +
      '        command: sh -c \'echo $$ > grandchild.pid; exec sleep 30\' & sleep 30\n' +
      '      - name: after\n' +
      '        command: echo still ran\n',
    );
    const started = Date.now();
    const e = await runAndWait(d, 'flaky');
    expect(Date.now() - started).to.be.below(25_000);
    expect(e.status, JSON.stringify(e.steps)).to.equal('success');
    const [once, retried, slow, after] = e.steps;
    expect(once.attempts).to.have.length(1);
    expect(retried.status).to.equal('success');
    expect(retried.attempts).to.have.length(3);
    expect(retried.retry_count).to.equal(2);
    expect(slow.status).to.equal('failure');
    expect(slow.reason).to.equal('timeout');
    expect(after.status).to.equal('success');
    // The timeout stopped the step's whole process tree, its grandchild too.
    const pid = Number(await readFile(join(d.dir, 'grandchild.pid'), 'utf8'));
    expect(() => process.kill(pid, 0)).to.throw();
    const log = await d.api('GET', `/api/v1/jobs/flaky/executions/${e.id}/log?step=retried`);
    expect(log.text).to.contain('--- step retried: attempt 3 of 3 ---');
  });

  it('gives a job run as another user an outputs file that user can write', async function () {
    if (process.getuid?.() !== 0) {
      console.log('      (skipped: needs a daemon running as root)');
      this.skip();
    }
    const d = await start(
      '  as-nobody:\n' +
      '    user: nobody\n' +
      '    steps:\n' +
      '      - name: one\n' +
      '        command: echo "who=$(id -un)" >> "$WATCHBELL_OUTPUT"\n' +
      '      - name: two\n' +
      '        command: echo "one ran as $WATCHBELL_STEP_ONE_WHO"\n',
    );
    const e = await runAndWait(d, 'as-nobody');
    expect(e.status, JSON.stringify(e.steps)).to.equal('success');
    expect(e.steps[0].outputs).to.deep.equal({ who: 'nobody' });
  });

  it('follows one step\'s part of the log live with ?step=NAME&follow=true', async function () {
    const d = await start(
      '  live:\n' +
      '    steps:\n' +
      '      - name: first\n' +
      '        command: echo not this\n' +
      '      - name: second\n' +
      '        command: echo begin; while [ ! -f ./go ]; do sleep 0.05; done; echo end\n' +
      '      - name: third\n' +
      '        command: echo nor this\n',
    );
    const run = await d.api('POST', '/api/v1/jobs/live/run');
    const id = run.body.data.execution_id as string;
    const res = await fetch(`${d.url}/api/v1/jobs/live/executions/${id}/log?step=second&follow=true&stream=stdout`);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('begin\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    await writeFile(join(d.dir, 'go'), '');
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    expect(text).to.equal('begin\nend\n');
  });

  it('follows one step\'s part over a WebSocket too (?step=NAME&follow=true with an Upgrade)', async function () {
    const d = await start(
      '  sock:\n' +
      '    steps:\n' +
      '      - name: first\n' +
      '        command: echo not this\n' +
      '      - name: second\n' +
      '        command: echo begin; while [ ! -f ./go ]; do sleep 0.05; done; echo end\n' +
      '      - name: third\n' +
      '        command: echo nor this\n',
    );
    const id = (await d.api('POST', '/api/v1/jobs/sock/run')).body.data.execution_id as string;
    const ws = new WebSocket(`${d.url.replace('http:', 'ws:')}/api/v1/jobs/sock/executions/${id}/log?step=second&stream=stdout&follow=true`);
    let text = '';
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve) =>
      ws.on('message', (m) => {
        text += m.toString();
        if (text.includes('begin\n')) resolve();
      }),
    );
    await writeFile(join(d.dir, 'go'), '');
    expect(await closed).to.equal(1000);
    expect(text).to.equal('begin\nend\n');
  });

  it('fails a step whose outputs file is malformed, naming the line', async function () {
    const d = await start(
      '  bad:\n' +
      '    steps:\n' +
      '      - name: one\n' +
      '        command: echo "1bad=x" >> "$WATCHBELL_OUTPUT"\n' +
      '      - name: two\n' +
      '        command: echo never\n',
    );
    const e = await runAndWait(d, 'bad');
    expect(e.status).to.equal('failure');
    expect(e.steps[0].exit_code).to.equal(0);
    expect(e.error).to.equal('step one: outputs file line 1: key "1bad" is invalid; expected letters, digits and _, not starting with a digit, at most 128 characters');
    expect(e.steps[1].status).to.equal('skipped');
  });

  it('refuses a job with both command and steps, a step without command, and duplicate step names, naming each', async function () {
    const d = await start('  {}\n');
    const both = await d.api('POST', '/api/v1/jobs', { id: 'x', command: 'true', steps: [{ name: 'a', command: 'true' }] });
    expect(both.status).to.equal(400);
    expect(both.body.error.message).to.contain('steps: a job has command or steps, not both');
    const bad = await d.api('POST', '/api/v1/jobs', { id: 'x', steps: [{ name: 'a', command: 'true', if: 'sometimes' }] });
    expect(bad.body.error.details).to.deep.equal([{ path: '/steps/0/if', message: 'steps.0.if: "sometimes" is invalid; expected one of "success", "failure", "always"' }]);
    const empty = await d.api('POST', '/api/v1/jobs', { id: 'x', steps: [{ name: 'a' }] });
    expect(empty.body.error.details).to.deep.equal([{ path: '/steps/0', message: 'steps.0: step "a" has no command; expected command (with container to run it in one) or wait' }]);
    const dup = await d.api('POST', '/api/v1/jobs', { id: 'x', steps: [{ name: 'a', command: 'true' }, { name: 'a', command: 'true' }] });
    expect(dup.body.error.details[0]).to.deep.equal({ path: '/steps/1/name', message: 'steps.1.name: "a" is already the name of step 0; step names must be unique in a job' });
    const none = await d.api('POST', '/api/v1/jobs', { id: 'x', schedule: '@daily' });
    expect(none.status).to.equal(400);
    expect(none.body.error.message).to.contain('command: is required (or steps)');
  });
});
